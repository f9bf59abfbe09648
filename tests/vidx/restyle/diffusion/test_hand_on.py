"""A diffusion restyler's state handed from one segment to the next (vidx.jobs.state): rendering
frames 0-4 in one restyler and 5-9 in a fresh one loaded from its bytes gives the frames one
restyler gives over 0-9."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vidx.restyle.diffusion.conftest import contexts, pan_clip, tiny_options
from vidx.jobs.state import StateError, dumps, kept_objects, restore
from vidx.restyle.diffusion import DiffusionRestyler


@pytest.mark.parametrize(
    "kw",
    [{}, {"skip_covered": 0.0, "noise_warp": "nearest"}],
    ids=["defaults", "every-frame"],
)
def test_a_restyler_loaded_from_bytes_goes_on_as_one_restyler(tiny_pipe, tiny_model_dir, kw):
    frames = pan_clip(10, step=2)
    ctxs = contexts(frames, interval=6)
    opts = tiny_options(tiny_model_dir, **kw)
    whole = DiffusionRestyler(opts, pipe=tiny_pipe)
    expected = [whole(f, c) for f, c in zip(frames, ctxs, strict=True)]

    first = DiffusionRestyler(opts, pipe=tiny_pipe)
    got = [first(f, c) for f, c in zip(frames[:5], ctxs[:5], strict=True)]
    data = dumps(first)
    fresh = DiffusionRestyler(opts, pipe=tiny_pipe)
    restore(fresh, data)
    got += [fresh(f, c) for f, c in zip(frames[5:], ctxs[5:], strict=True)]
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs"


def test_the_models_are_not_in_the_state(tiny_pipe, tiny_model_dir):
    r = DiffusionRestyler(tiny_options(tiny_model_dir), pipe=tiny_pipe)
    frames = pan_clip(2)
    for f, c in zip(frames, contexts(frames), strict=True):
        r(f, c)
    kept = kept_objects(r)
    assert any(obj is tiny_pipe for obj in kept.values())
    weights = sum(p.numel() * 4 for p in tiny_pipe.unet.parameters())
    assert len(dumps(r)) < weights


def test_a_pickle_is_not_a_state(tiny_pipe, tiny_model_dir):
    """A pickle (the format before issue 23) is refused before anything is unpickled."""
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return os.system, ("touch /tmp/vidx-should-not-exist",)

    r = DiffusionRestyler(tiny_options(tiny_model_dir), pipe=tiny_pipe)
    with pytest.raises(StateError, match="cannot be read"):
        restore(r, pickle.dumps(Evil()))


def test_a_restyler_starts_over_at_a_cut(tiny_pipe, tiny_model_dir):
    """At a scene cut the restyler forgets everything (its generators too): one that ran
    through the cut gives, from it on, what a fresh one started at the cut gives, so a
    carried job may start a segment at a cut without the state before it."""
    from dataclasses import replace

    shot_a = pan_clip(5, step=2)
    shot_b = [np.ascontiguousarray(f[::-1, ::-1]) for f in pan_clip(5, step=3)]
    frames = shot_a + shot_b
    ctxs = contexts(shot_a) + contexts(shot_b)
    ctxs = [replace(c, index=i) for i, c in enumerate(ctxs)]
    ctxs[5] = replace(ctxs[5], scene_cut=True)
    opts = tiny_options(tiny_model_dir)
    through = DiffusionRestyler(opts, pipe=tiny_pipe)
    expected = [through(f, c) for f, c in zip(frames, ctxs, strict=True)][5:]
    fresh = DiffusionRestyler(opts, pipe=tiny_pipe)
    got = [fresh(f, c) for f, c in zip(frames[5:], ctxs[5:], strict=True)]
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        assert np.array_equal(a, b), f"frame {i + 5} differs"
