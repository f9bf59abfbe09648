"""Batches: a folder or several inputs into -o OUTDIR/, each file its own job; one failing file
does not stop the others; a summary line per input; exit 0 only when all succeeded."""

from __future__ import annotations

from pathlib import Path

import av

import vidx
from tests.conftest import make_clip, run_cli
from vidx.jobs.batch import batch_outputs


def frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def clips(folder: Path) -> Path:
    folder.mkdir()
    make_clip(folder / "a.mp4", frames=6)
    make_clip(folder / "b.mov", frames=4)
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 10)
    (folder / "notes.txt").write_text("not an input")
    return folder


def test_folder_with_a_broken_clip(tmp_path: Path) -> None:
    src = clips(tmp_path / "clips")
    out = tmp_path / "out"
    result = run_cli("upscale", src, "-o", f"{out}/", "--preset", "ultrafast")
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".json") == ["a.mp4", "b.mov"]
    assert frames(out / "a.mp4") == 6 and frames(out / "b.mov") == 4
    lines = result.output.splitlines()
    table = lines[lines.index("batch: 2 of 3 done, 1 failed") :]
    assert table[1].startswith("  ok      ") and "a.mp4" in table[1]
    assert table[2].startswith("  ok      ") and "b.mov" in table[2]
    assert table[3].startswith(f"  failed  {src / 'broken.mp4'}: not a readable video")
    assert not (out / "broken.mp4").exists()
    assert not (out / "broken.mp4.parts").exists()
    again = run_cli("upscale", src, "-o", f"{out}/")  # finished files are kept, not redone
    assert again.exit_code == 1
    assert again.output.count("  kept    ") == 2


def test_several_inputs_all_ok(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", frames=3)
    b = make_clip(tmp_path / "b.mkv", frames=3)
    out = tmp_path / "out"
    result = run_cli("upscale", a, b, "-o", out, "--size", "x2")
    assert result.exit_code == 0, result.output
    assert "batch: 2 of 2 done" in result.output
    assert frames(out / "a.mp4") == 3 and frames(out / "b.mkv") == 3


def test_api_render_batch(tmp_path: Path) -> None:
    src = clips(tmp_path / "clips")
    seen = []
    result = vidx.api.render_batch(src, tmp_path / "out", on_item=seen.append, codec="prores")
    assert not result.ok
    assert [i.status for i in result.items] == ["ok", "ok", "failed"]
    assert [i.output.name for i in result.items] == ["a.mov", "b.mov", "broken.mov"]
    assert "not a readable video" in result.items[2].reason
    assert seen == result.items


def test_repeated_stems_get_distinct_names(tmp_path: Path) -> None:
    inputs = [Path("x/a.mp4"), Path("y/a.mp4"), Path("z/a.avi"), Path("a.mkv"), Path("b.avi")]
    names = batch_outputs(inputs, tmp_path, "h264")
    assert [n.name for n in names] == ["a_1.mp4", "a_2.mp4", "a_3.mp4", "a.mkv", "b.mp4"]


def test_single_input_into_a_folder(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "a.mp4", frames=2)
    folder = tmp_path / "out"
    folder.mkdir()
    result = run_cli("upscale", src, "-o", folder)
    assert result.exit_code == 0, result.output
    assert frames(folder / "a.mp4") == 2


def test_empty_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("upscale", tmp_path / "empty", "-o", f"{tmp_path / 'out'}/")
    assert result.exit_code == 2
    assert "holds no video or picture" in result.output
