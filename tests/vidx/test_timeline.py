"""An edit as the input (issue 28): only the used source ranges plus handles are rendered, two
uses of one take are one piece, and the relinked edit (EDL, FCP XML, OTIO) shows at every
frame the rendered version of the source frame the original shows there.

Each source frame carries its media and frame number as a 4x4 grid of black and white
blocks, which survives H.264 and a resize: a frame of a rendered piece says which source frame
it was made from, so the conform is checked frame-exactly without rendering the sources whole.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import av
import numpy as np
import opentimelineio as otio
import pytest

from tests.conftest import run_cli
from vidx.api import render_timeline, timeline_plan
from vidx.io.edit import read_edit
from vidx.io.probe import probe
from vidx.io.tracks import to_frames

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
RATE = 24
SIZE = 64
# media id, frames, start timecode, reel
SOURCES = {
    "a": (1, 30, "01:00:00:00", "A001"),
    "b": (2, 60, "02:00:00:00", "B002"),
    "c": (3, 30, "00:10:00:00", "C003"),
}
# six cuts over three takes: (take, first source frame, frames); the two uses of "a" overlap
CUTS = [("a", 4, 8), ("b", 10, 6), ("c", 5, 8), ("a", 8, 6), ("b", 44, 6), ("c", 20, 6)]
HANDLES = 2
FAST = ["--upscaler", "lanczos", "--size", "x2", "--preset", "ultrafast", "--handles", HANDLES]


def code_frame(media: int, index: int) -> np.ndarray:
    """A frame whose 16 blocks spell ``index`` (8 bits), ``media`` and its complement."""
    bits = index | (media << 8) | ((~media & 0xF) << 12)
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    step = SIZE // 4
    for k in range(16):
        r, c = divmod(k, 4)
        if bits >> k & 1:
            img[r * step : (r + 1) * step, c * step : (c + 1) * step] = 255
    return img


def read_code(rgb: np.ndarray) -> tuple[int, int]:
    """(media, index) of a frame made by :func:`code_frame`, at any size."""
    h, w = rgb.shape[:2]
    bits = 0
    for k in range(16):
        r, c = divmod(k, 4)
        y, x = (2 * r + 1) * h // 8, (2 * c + 1) * w // 8
        if rgb[y - 2 : y + 2, x - 2 : x + 2].mean() > 127:
            bits |= 1 << k
    media = bits >> 8 & 0xF
    assert bits >> 12 == ~media & 0xF, f"unreadable frame code {bits:016b}"
    return media, bits & 0xFF


def make_source(path: Path, media: int, frames: int, tc: str, reel: str) -> Path:
    with av.open(str(path), "w") as out:
        out.metadata["timecode"] = tc
        vs = out.add_stream("libx264", rate=RATE)
        vs.width, vs.height, vs.pix_fmt = SIZE, SIZE, "yuv420p"
        vs.metadata["reel_name"] = reel
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(code_frame(media, i), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    return path


def tc_start(take: str) -> int:
    return to_frames(SOURCES[take][2], RATE)


def source_clip(folder: Path, take: str, first: int, frames: int, url: str | None = None) -> Any:
    _, length, _, reel = SOURCES[take]
    ref = otio.schema.ExternalReference(
        target_url=url or (folder / f"{take}.mov").as_uri(),
        available_range=TR(RT(tc_start(take), RATE), RT(length, RATE)),
    )
    clip = otio.schema.Clip(
        name=take,
        media_reference=ref,
        source_range=TR(RT(tc_start(take) + first, RATE), RT(frames, RATE)),
    )
    clip.metadata["cmx_3600"] = {"reel": reel}
    return clip


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    for take, (mid, frames, tc, reel) in SOURCES.items():
        make_source(folder / f"{take}.mov", mid, frames, tc, reel)
    return folder


def cut_list(folder: Path, cuts=CUTS) -> Any:
    timeline = otio.schema.Timeline(name="spot")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for take, first, frames in cuts:
        track.append(source_clip(folder, take, first, frames))
    return timeline


# the conform check ----------------------------------------------------------------------------


def shown(timeline: Any) -> dict[int, list[tuple[Any, int]]]:
    """Timeline frame -> [(clip, source timecode frame)] the first video track shows there
    (both sides of a dissolve; a speed effect read as the adapters write it)."""
    out: dict[int, list[tuple[Any, int]]] = {}
    track = timeline.video_tracks()[0]
    for clip in track.find_clips():
        placed = clip.range_in_parent()
        visible = clip.visible_range()
        before = int(clip.source_range.start_time.value - visible.start_time.value)
        after = int(visible.duration.value - placed.duration.value) - before
        speed = 1.0
        for e in clip.effects:
            if isinstance(e, otio.schema.LinearTimeWarp):
                speed *= e.time_scalar
        for k in range(-before, int(placed.duration.value) + after):
            n = int(placed.start_time.value) + k
            s = int(clip.source_range.start_time.value) + math.floor(k * speed)
            out.setdefault(n, []).append((clip, s))
    return out


def decoded(path: Path, cache: dict[Path, list[tuple[int, int]]]) -> list[tuple[int, int]]:
    if path not in cache:
        with av.open(str(path)) as c:
            cache[path] = [read_code(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return cache[path]


def piece_start(clip: Any) -> int:
    """Timecode frame of the first frame of a relinked clip's piece: its available range, or
    (an EDL keeps none) the piece's own timecode."""
    ref = clip.media_reference
    if ref.available_range is not None:
        return int(ref.available_range.start_time.value)
    return to_frames(probe(Path(otio.url_utils.filepath_from_url(ref.target_url))).timecode, RATE)


def check_conform(original: Any, relinked: Any, offline: set[str] = frozenset()) -> int:
    """Every frame of ``relinked`` shows the rendered version of the frame ``original`` shows
    there; clips of the takes in ``offline`` are offline media. Returns the frames checked."""
    before, after = shown(original), shown(relinked)
    assert sorted(before) == sorted(after)
    cache: dict[Path, list[tuple[int, int]]] = {}
    for n, uses in before.items():
        for (clip, s), (new, s2) in zip(uses, after[n], strict=True):
            assert s == s2  # the source range is unchanged
            take = clip.name
            if take in offline:
                assert isinstance(new.media_reference, otio.schema.MissingReference)
                continue
            path = Path(otio.url_utils.filepath_from_url(new.media_reference.target_url))
            got = decoded(path, cache)[s - piece_start(new)]
            assert got == (SOURCES[take][0], s - tc_start(take)), f"frame {n}"
    return len(before)


# tests ----------------------------------------------------------------------------------------


def test_plan_renders_used_ranges_plus_handles_and_merges_one_take(media: Path) -> None:
    edl = media.parent / "spot.edl"
    otio.adapters.write_to_file(cut_list(media), str(edl), "cmx_3600")
    plan = timeline_plan(edl, handles=HANDLES)
    assert plan.missing == []
    ranges = sorted((p.media.stem, p.first, p.end) for p in plan.pieces)
    # a's two uses (4-11, 8-13) are one piece; b's and c's are far apart: two pieces each
    assert ranges == [("a", 2, 16), ("b", 8, 18), ("b", 42, 52), ("c", 3, 15), ("c", 18, 28)]
    for p in plan.pieces:
        assert p.frames <= p.used + 2 * HANDLES
    assert plan.frames == 14 + 10 + 10 + 12 + 10  # of 120 source frames
    # the edge of a media clamps its handles
    short = timeline_plan(edl, handles="1s")
    assert [(p.first, p.end) for p in short.pieces if p.media.stem == "a"] == [(0, 30)]


def test_media_are_found_by_the_reel_name_they_carry(media: Path, tmp_path: Path) -> None:
    clip = source_clip(media, "c", 5, 8, url="/lost/A017_C004.mov")
    clip.name = "shot 7"  # neither the clip nor the file name is the media's: its reel is
    timeline = cut_list(media, [("a", 4, 8)])
    timeline.video_tracks()[0].append(clip)
    edl = tmp_path / "reels.edl"
    otio.adapters.write_to_file(timeline, str(edl), "cmx_3600")
    plan = timeline_plan(edl, media_root=media, handles=0)
    assert plan.missing == []
    assert [(p.media.name, p.first, p.end) for p in plan.pieces] == [
        ("a.mov", 4, 12), ("c.mov", 5, 13)
    ]  # fmt: skip


def test_round_trip_edl_conforms_at_every_frame(media: Path, tmp_path: Path) -> None:
    original = cut_list(media)
    edl = tmp_path / "spot.edl"
    otio.adapters.write_to_file(original, str(edl), "cmx_3600")
    out = tmp_path / "out"
    result = run_cli("upscale", "--timeline", edl, "--media-root", media, "-o", f"{out}/", *FAST)
    assert result.exit_code == 0, result.output
    assert "timeline: 6 of 6 clips rendered" in result.output
    pieces = sorted(p.name for p in out.glob("*.mov"))
    assert pieces == [
        "a_000002-000015.mov", "b_000008-000017.mov", "b_000042-000051.mov",
        "c_000003-000014.mov", "c_000018-000027.mov",
    ]  # fmt: skip
    with av.open(str(out / "a_000002-000015.mov")) as c:
        assert c.streams.video[0].frames in (0, 14) and c.duration
        tmcd = [s for s in c.streams if s.type == "data"][0]
        assert tmcd.metadata["timecode"] == "01:00:00:02"  # the source's, at the piece's start
        assert tmcd.metadata["reel_name"] == "A001"
    source = read_edit(edl)
    assert check_conform(source, read_edit(out / "spot.edl")) == 40
    assert check_conform(source, read_edit(out / "spot.otio")) == 40
    # the same edit as FCP XML, relinked as FCP XML
    xml = tmp_path / "spot.xml"
    otio.adapters.write_to_file(original, str(xml), "fcp_xml")
    out2 = tmp_path / "out2"
    result = run_cli("upscale", "--timeline", xml, "-o", f"{out2}/", *FAST)
    assert result.exit_code == 0, result.output
    assert check_conform(read_edit(xml), read_edit(out2 / "spot.xml")) == 40
    # a second run keeps what is done
    result = run_cli("upscale", "--timeline", edl, "--media-root", media, "-o", f"{out}/", *FAST)
    assert result.exit_code == 0, result.output
    assert result.output.count("kept") == 6


def busy_edit(folder: Path) -> Any:
    """Cuts, a dissolve, a gap, a clip at double speed, a marker, an audio track, a clip whose
    media has moved (found by name under the media root) and one whose media is missing."""
    timeline = otio.schema.Timeline(name="busy")
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    timeline.tracks.extend([video, audio])
    video.append(source_clip(folder, "a", 4, 8))
    video.append(source_clip(folder, "b", 10, 6, url="/nowhere/b.mov"))
    video.append(otio.schema.Transition(in_offset=RT(3, RATE), out_offset=RT(3, RATE)))
    video.append(source_clip(folder, "c", 5, 8))
    video.append(otio.schema.Gap(source_range=TR(RT(0, RATE), RT(4, RATE))))
    fast = source_clip(folder, "a", 14, 5)
    fast.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    fast.markers.append(otio.schema.Marker(name="note", marked_range=TR(RT(86415, RATE))))
    video.append(fast)
    lost = source_clip(folder, "c", 0, 4, url=(folder / "d.mov").as_uri())
    lost.name = "d"
    lost.metadata["cmx_3600"] = {"reel": "D004"}
    video.append(lost)
    audio.append(source_clip(folder, "a", 0, 30))
    return timeline


def test_dissolve_gap_speed_marker_audio_and_a_missing_clip(media: Path, tmp_path: Path) -> None:
    edit = tmp_path / "busy.otio"
    original = busy_edit(media)
    otio.adapters.write_to_file(original, str(edit))
    # the dry run: one line for the missing media, exit 1, nothing written
    out = tmp_path / "out"
    result = run_cli("restyle", "--timeline", edit, "--media-root", media, "-o", out, "--dry-run")
    assert result.exit_code == 1, result.output
    missing = [line for line in result.output.splitlines() if "missing:" in line]
    assert missing == [
        f"  missing: clip 5 'd' (V1 at 00:00:01:07): no media found for 'd.mov' or 'D004' "
        f"under {media}"
    ]
    assert not out.exists()
    result = run_cli("upscale", "--timeline", edit, "--media-root", media, "-o", "cut.mp4")
    assert result.exit_code == 2 and "writes into a folder" in result.output
    result = run_cli("upscale", "--timeline", edit, "-o", out, "--max-frames", "5")
    assert result.exit_code == 2, result.output
    assert "--max-frames is not for an edit: the edit says what each clip uses" in result.output
    assert not out.exists()
    # the render: the other clips render, the missing one is offline, exit 1
    result = run_cli("upscale", "--timeline", edit, "--media-root", media, "-o", out, *FAST)
    assert result.exit_code == 1, result.output
    assert "timeline: 4 of 5 clips rendered, 1 offline" in result.output
    relinked = read_edit(out / "busy.otio")
    lost = relinked.video_tracks()[0][-1]
    assert lost.media_reference.metadata["vidx"]["status"] == "offline"
    assert check_conform(read_edit(edit), relinked, offline={"d"}) == 31
    # the speed change uses twice its length; a's two uses (4-11, 14-23) render as one piece
    assert sorted(p.name for p in out.glob("*.mov")) == [
        "a_000002-000025.mov", "b_000008-000020.mov", "c_000000-000014.mov"
    ]  # fmt: skip
    # transitions, gaps, markers and audio are as they were
    kinds = [type(i).__name__ for i in relinked.video_tracks()[0]]
    assert kinds == ["Clip", "Clip", "Transition", "Clip", "Gap", "Clip", "Clip"]
    assert [m.name for m in relinked.video_tracks()[0][5].markers] == ["note"]
    sound = relinked.audio_tracks()[0][0]
    assert sound.media_reference.target_url == (media / "a.mov").as_uri()


def test_variants_write_one_relinked_edit_each(media: Path, tmp_path: Path) -> None:
    edit = tmp_path / "spot.otio"
    otio.adapters.write_to_file(cut_list(media), str(edit))
    job = tmp_path / "seasons.toml"
    job.write_text(
        '[shared]\nupscaler = "lanczos"\npreset = "ultrafast"\n'
        '[variants.small]\nsize = "source"\n[variants.big]\nsize = "x2"\n'
    )
    out = tmp_path / "out"
    args = ["--job", job, "-o", out, "--handles", HANDLES]
    result = run_cli("variants", "--timeline", edit, *args)
    assert result.exit_code == 0, result.output
    for name, side in (("small", SIZE), ("big", 2 * SIZE)):
        pieces = sorted((out / name).glob("*.mov"))
        assert len(pieces) == 5
        assert probe(pieces[0]).width == side
        assert check_conform(read_edit(edit), read_edit(out / name / "spot.otio")) == 40
    # a variant's piece that is not there (a crash, a deletion) is rendered again alone
    (out / "big" / "a_000002-000015.mov").unlink()
    (out / "big" / "a_000002-000015.mov.json").unlink()
    result = run_cli("variants", "--timeline", edit, *args)
    assert result.exit_code == 0, result.output
    assert result.output.count("kept") == 4
    assert check_conform(read_edit(edit), read_edit(out / "big" / "spot.otio")) == 40


def test_an_interrupted_edit_resumes_where_it_stopped(media: Path, tmp_path: Path) -> None:
    edit = tmp_path / "spot.otio"
    otio.adapters.write_to_file(cut_list(media), str(edit))
    out = tmp_path / "out"
    options = dict(upscaler="lanczos", preset="ultrafast", handles=HANDLES)

    def stop_after_two(item: Any) -> None:
        if len(list(out.glob("*.mov.json"))) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_timeline(edit, out, on_piece=stop_after_two, **options)
    assert not (out / "spot.otio").exists()  # no relinked edit until every piece ran
    result = render_timeline(edit, out, **options)
    assert [i.status for i in result.pieces] == ["kept", "kept", "ok", "ok", "ok"]
    assert result.ok and result.timelines == [out / "spot.otio"]
    assert check_conform(read_edit(edit), read_edit(out / "spot.otio")) == 40


def test_an_edl_is_read_at_its_media_rate(tmp_path: Path) -> None:
    """25 fps media: the EDL's timecodes (frames up to 24) count at 25, not at 24."""
    folder = tmp_path / "media"
    folder.mkdir()
    with av.open(str(folder / "p.mov"), "w") as out:
        out.metadata["timecode"] = "10:00:00:00"
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = SIZE, SIZE, "yuv420p"
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(code_frame(4, i), format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    edl = tmp_path / "p.edl"
    edl.write_text(
        "TITLE: p\n\n001  P        V     C        10:00:00:24 10:00:01:10 "
        "00:00:00:00 00:00:00:11\n* FROM CLIP NAME:  p\n"
    )
    plan = timeline_plan(edl, handles=0)
    assert plan.missing == []
    assert [(p.first, p.end) for p in plan.pieces] == [(24, 35)]
    assert plan.clips[0].clip.rate == 25


def test_an_edl_dissolve_uses_both_takes_and_conforms(media: Path, tmp_path: Path) -> None:
    """CMX 3600 writes a dissolve as the incoming clip's event; the adapter reads that clip
    with the outgoing clip's media (its own is in a ``TO CLIP`` comment), which vidx puts
    right: each side of the dissolve renders from its own take, with the frames it shows."""
    timeline = cut_list(media, [("a", 4, 8), ("b", 10, 6), ("c", 5, 8)])
    track = timeline.video_tracks()[0]
    track.insert(2, otio.schema.Transition(in_offset=RT(3, RATE), out_offset=RT(3, RATE)))
    edl = tmp_path / "dissolve.edl"
    otio.adapters.write_to_file(timeline, str(edl), "cmx_3600")
    assert "D 006" in edl.read_text()
    plan = timeline_plan(edl, handles=0)
    assert [(p.media.stem, p.first, p.end) for p in plan.pieces] == [
        ("a", 4, 12), ("b", 10, 19), ("c", 2, 13)
    ]  # fmt: skip
    out = tmp_path / "out"
    result = run_cli("upscale", "--timeline", edl, "-o", out, *FAST[:-2], "--handles", 0)
    assert result.exit_code == 0, result.output
    assert check_conform(read_edit(edl), read_edit(out / "dissolve.edl")) == 22


def test_a_source_whose_first_frame_is_not_at_zero(tmp_path: Path) -> None:
    """Source frame N is the Nth frame, wherever the file's timestamps start."""
    folder = tmp_path / "media"
    folder.mkdir()
    src = folder / "late.mkv"
    with av.open(str(src), "w") as out:
        out.metadata["timecode"] = "05:00:00:00"
        vs = out.add_stream("libx264", rate=RATE)
        vs.width, vs.height, vs.pix_fmt = SIZE, SIZE, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(code_frame(5, i), format="rgb24")
            frame.pts = 31 + i  # the first frame at 1.29 s
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
    assert probe(src).start_time == pytest.approx(31 / 24, abs=2e-3)
    start = to_frames("05:00:00:00", RATE)
    timeline = otio.schema.Timeline(name="late")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    ref = otio.schema.ExternalReference(target_url=src.as_uri())
    track.append(
        otio.schema.Clip(
            name="late", media_reference=ref, source_range=TR(RT(start + 5, RATE), RT(6, RATE))
        )
    )
    edit = tmp_path / "late.otio"
    otio.adapters.write_to_file(timeline, str(edit))
    out = tmp_path / "out"
    result = run_cli("upscale", "--timeline", edit, "-o", out, *FAST[:-2], "--handles", 1)
    assert result.exit_code == 0, result.output
    cache: dict[Path, list[tuple[int, int]]] = {}
    assert decoded(out / "late_000004-000011.mov", cache) == [(5, i) for i in range(4, 12)]
