"""Issue 9, case 4: resume notices an edited input. One byte in the middle of the input is
changed between a crashed segmented run and its resume, keeping size and mtime: refused."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from tests.conftest import video_timestamps
from tests.vidx.safety.helpers import assert_user_error, snapshot, vidx
from tests.vidx.test_segments import Failing
from vidx.api import render
from vidx.errors import OutputError
from vidx.jobs.run import Target, build_outputs, trim_of
from vidx.jobs.segments import parts_dir, run_segmented
from vidx.options import JobOptions
from vidx.pipeline import JobContext

# one segment at a time: with two side by side, the crash at frame 20 may land in segment 3
# while segment 2 still finishes
ARGS = (
    "--upscaler",
    "lanczos",
    "--size",
    "x2",
    "--segment-frames",
    "8",
    "--parallel-segments",
    "1",
)


def crashed_run(src: Path, out: Path) -> None:
    """What ``vidx upscale SRC -o OUT ARGS`` does, with an upscaler that crashes at frame 20."""
    options = JobOptions().with_values(
        upscaler="lanczos", size="x2", segment_frames=8, parallel_segments=1
    )
    [output] = build_outputs([Target(out, options)])
    failing = Failing(fail_at=20)
    failing.inner = output.upscaler  # type: ignore[assignment]
    output = dataclasses.replace(output, upscaler=failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_segmented(JobContext(src, trim=trim_of(options)), [output], options.run)


def edit_middle_byte(path: Path) -> bytes:
    """Flip one byte in the middle, keeping size and mtime; returns the original bytes."""
    original = path.read_bytes()
    st = path.stat()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    return original


def restore(path: Path, original: bytes) -> None:
    st = path.stat()
    path.write_bytes(original)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_resume_refuses_an_input_edited_in_the_middle(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=32)
    out = tmp_path / "out.mp4"
    crashed_run(src, out)
    manifest = json.loads((parts_dir(out) / "manifest.json").read_text())
    assert manifest["done"] == [0, 1]  # two segments of 8 finished before the crash at 20
    original = edit_middle_byte(src)
    edited = src.read_bytes()
    before = snapshot(tmp_path)
    line = assert_user_error(vidx("upscale", src, "-o", out, *ARGS), "changed", "--restart")
    assert str(src) in line
    assert snapshot(tmp_path) == before  # parts folder kept as it was, nothing else written
    with pytest.raises(OutputError, match="changed"):
        render(src, out, upscaler="lanczos", size="x2", segment_frames=8)
    assert snapshot(tmp_path) == before and src.read_bytes() == edited
    # control: the same bytes again resume (so only the edit was refused, not the options)
    restore(src, original)
    result = vidx("upscale", src, "-o", out, *ARGS)
    assert result.exit_code == 0, result.stderr
    assert len(video_timestamps(out)) == 32 and not parts_dir(out).exists()


def test_restart_after_an_edit_starts_over(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=32)
    out = tmp_path / "out.mp4"
    crashed_run(src, out)
    edit_middle_byte(src)
    result = vidx("upscale", src, "-o", out, *ARGS, "--restart")
    # the edited clip may or may not decode in full; either it renders or it is one clean line
    if result.exit_code == 0:
        assert out.exists() and not parts_dir(out).exists()
    else:
        assert_user_error(result)
