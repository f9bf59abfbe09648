from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import temporal
from tests.conftest import pattern
from vidx.analysis import Analyzer
from vidx.errors import OptionError
from vidx.frame import Frame
from vidx.options import FLOW_PRESETS, AnalysisOptions


def test_flow_presets_match_temporal() -> None:
    assert set(FLOW_PRESETS) == set(temporal.DIS_PRESETS)


def test_a_plain_transcode_does_not_import_torch() -> None:
    code = "import sys, vidx.pipeline, vidx.cli, vidx.jobs.segments; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_analyzer_keyframes_and_flow() -> None:
    analyzer = Analyzer(AnalysisOptions(keyframe_interval=3, analysis_size=64))
    ctxs = [analyzer(Frame(pattern(i, 96, 64), i, None, i)) for i in range(5)]  # type: ignore[arg-type]
    assert [c.keyframe for c in ctxs] == [True, False, False, True, False]
    flow = ctxs[1].flow
    assert flow is not None and flow.shape == (43, 64, 2)
    # the pattern moves 2 px right per frame: at analysis scale 2/1.5, backwards in x
    assert np.median(flow[..., 0][ctxs[1].mask]) == pytest.approx(-2 * 64 / 96, abs=0.3)


def test_a_hard_cut_is_a_keyframe() -> None:
    analyzer = Analyzer(AnalysisOptions(keyframe_interval=0, analysis_size=96))
    a = pattern(0, 96, 64)
    b = np.ascontiguousarray(255 - a[::-1])
    ctxs = [analyzer(Frame(img, i, None, i)) for i, img in enumerate([a, a, b])]  # type: ignore[arg-type]
    assert [c.keyframe for c in ctxs] == [True, False, True] and ctxs[2].scene_cut


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"flow": "lk"}, "flow"),
        ({"flow_preset": "slow"}, "flow_preset"),
        ({"analysis_size": 10}, "analysis_size"),
        ({"keyframe_interval": -1}, "keyframe_interval"),
        ({"flow": "raft"}, "raft_weights"),
    ],
)
def test_bad_analysis_options(kw: dict, needle: str) -> None:
    with pytest.raises(OptionError, match=needle) as caught:
        AnalysisOptions(**kw)
    assert caught.value.param == next(iter(kw))
