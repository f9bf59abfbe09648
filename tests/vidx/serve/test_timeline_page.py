"""The web UI's Timeline page, through its handlers: an uploaded edit is checked, its dry run is
a table without server paths, media are found only under the root (never where an uploaded
edit points), and its render is a queued job whose results are the relinked edit and pieces."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

pytest.importorskip("gradio")

from tests.vidx.test_timeline import SOURCES, cut_list, make_source  # noqa: E402
from vidx.serve import view  # noqa: E402
from vidx.serve.handlers import Pages, Server  # noqa: E402
from vidx.serve.queue import DONE, JobQueue  # noqa: E402

STORED = {"render": "", "variants": "", "timeline": "", "owner": "0" * 32}
FORM = [view.EMBEDDED, "19 blue-swirl", None, None, None, 0.7, "source", "lanczos", 0, False]


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    root = tmp_path / "root"
    (root / "footage").mkdir(parents=True)
    for take, (mid, frames, tc, reel) in SOURCES.items():
        make_source(root / "footage" / f"{take}.mov", mid, frames, tc, reel)
    queue = JobQueue(tmp_path / "state")
    return Pages(Server(queue, root.resolve(), 10**7, tmp_path / "cache"))


def upload(pages: Pages, path: Path) -> tuple:
    return pages.take_edit({"path": str(path), "orig_name": path.name})


def test_an_edit_is_checked_and_its_media_stay_under_the_root(pages: Pages, tmp_path: Path):
    root = pages.server.root
    assert root is not None
    fake = tmp_path / "cut.edl"
    fake.write_text("this is no edit\n001 nonsense\n")
    edit, notice = upload(pages, fake)
    assert edit == {} and "Not accepted:** cut.edl: not a readable cmx_3600 edit" in notice
    # an edit whose clips name files outside the root: found by name under it, or missing
    outside = tmp_path / "outside"
    outside.mkdir()
    make_source(outside / "d.mov", 4, 10, "03:00:00:00", "D004")
    timeline = cut_list(root / "elsewhere")  # paths that do not exist: found by name
    ref = otio.schema.ExternalReference(target_url=(outside / "d.mov").as_uri())
    lost = otio.schema.Clip(
        name="d",
        media_reference=ref,
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(4, 24)
        ),
    )
    lost.metadata["cmx_3600"] = {"reel": "D004"}
    timeline.video_tracks()[0].append(lost)
    path = tmp_path / "spot.otio"
    otio.adapters.write_to_file(timeline, str(path))
    edit, notice = upload(pages, path)
    assert notice == "Edit: spot.otio: 7 video clips"
    notice, rows = pages.check_edit(edit, "footage", "2")
    assert "7 video clips, 5 pieces" in notice and "1 clips missing media" in notice
    assert rows[-1][:2] == ["missing: clip 7", "d"]
    assert "no media found for 'd.mov' or 'D004' under footage" in rows[-1][3]
    assert not any(str(tmp_path) in cell for row in rows for cell in row)  # no server paths
    notice, rows = pages.check_edit(edit, "../outside", "2")
    assert "may not contain '..'" in notice and rows == []


def test_an_edit_renders_as_a_queued_job(pages: Pages, tmp_path: Path) -> None:
    path = tmp_path / "spot.edl"
    otio.adapters.write_to_file(cut_list(tmp_path / "elsewhere"), str(path), "cmx_3600")
    edit, _ = upload(pages, path)
    notice, stored = pages.start_edit(None, edit, STORED, "footage", "2", *FORM)  # type: ignore[arg-type]
    assert notice.startswith("Job ") and stored["timeline"]
    queue = pages.queue.start()
    try:
        job = queue.wait(stored["timeline"], "browser:" + "0" * 32, 120)
    finally:
        queue.stop()
    assert job is not None and job.state == DONE, job
    names = sorted(Path(f).name for f in job.files)
    assert "spot.edl" in names and "spot.otio" in names
    assert len([n for n in names if n.endswith(".mov")]) == 5
    relinked = otio.adapters.read_from_file([f for f in job.files if f.endswith(".otio")][0])
    clip = relinked.video_tracks()[0][0]
    assert clip.media_reference.target_url.endswith("/a_000002-000015.mov")
    assert job.frames == 14 + 10 + 10 + 12 + 10
