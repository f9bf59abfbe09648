"""``vidx serve`` against a hostile page, without a browser: the handlers (vidx.serve.handlers),
the queue and the checks are called directly, as Gradio calls them.

Covered: another browser's job id is no such job (view, progress, results, cancel, resume, also
after a restart); a NUL byte in a path field is one message; Check refuses what the CLI refuses
(steps 1e9, a NaN strength, a prompt schedule over its limits) before anything is queued, and
prompt schedules parse in linear time; an upload leaves no temporary file; the server's pixel
limit cannot be raised by a job file or a form value, and uploads are checked against it by
their pixel count.
"""

from __future__ import annotations

import asyncio
import math
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import make_clip
from vidx.errors import InputError, OptionError
from vidx.options import MAX_STEPS, RestyleOptions
from vidx.serve.paths import accept_upload, model_path, under_root
from vidx.serve.queue import CANCELLED, DONE, Job, JobQueue
from vidx.values import prompt_schedule

gr = pytest.importorskip("gradio")

from vidx.serve.handlers import Pages, Server  # noqa: E402 - needs gradio

A, B = "a" * 32, "b" * 32  # two browsers' owner tokens
BROWSER = SimpleNamespace(username=None)  # a gr.Request without a login
STYLE = {"style": "19", "strength": 0.7}


def stored(token: str, **jobs: str) -> dict[str, str]:
    """What a browser keeps in its storage: its token and its jobs' ids."""
    return {"owner": token, "render": "", "variants": "", **jobs}


def finish_at_once(job: Job, progress: Any) -> None:
    """A runner that 'renders' by writing the output file (no model, no decoding)."""
    Path(job.output).write_bytes(b"result")
    job.files = [job.output]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    return make_clip(tmp_path / "root" / "clip.mp4", frames=3)


def server_at(tmp_path: Path, runner: Any = None, max_pixels: int = 4096 * 4096) -> Server:
    queue = JobQueue(tmp_path / "state", runner=runner, max_pixels=max_pixels)
    return Server(queue, tmp_path / "root", 10**8, tmp_path / "gradio")


def render_of(pages: Pages, token: str, clip: Path) -> str:
    source = {"path": str(clip), "name": clip.name}
    form = ["Embedded style", "19 blue-swirl", None, "", "", 0.7, "source", "lanczos", 0, False]
    notice, jobs, _ = pages.start_render(BROWSER, source, stored(token), *form)
    assert notice.startswith("Job "), notice
    return str(jobs["render"])


# 1. jobs belong to the browser (or the login) ---------------------------------------------------


def test_another_browsers_job_is_no_such_job(tmp_path: Path, clip: Path) -> None:
    pages = Pages(server_at(tmp_path))  # not started: the job stays queued
    job_id = render_of(pages, A, clip)
    theirs = stored(B, render=job_id)
    assert pages.cancel(theirs, BROWSER) == "No such job."
    assert pages.resume(theirs, BROWSER) == "No such job."
    status, _, table, *_ = pages.refresh(theirs, {}, BROWSER)
    assert "No such job." in status and job_id not in status
    assert table == []  # and not in B's jobs table
    queue = pages.queue
    assert queue.get(job_id, f"browser:{B}") is None and queue.get(job_id, "") is None
    assert not queue.cancel(job_id, f"browser:{B}") and queue.wait(job_id, f"browser:{B}") is None
    assert queue.get(job_id, f"browser:{A}").state == "queued"  # untouched
    assert pages.cancel(stored(A, render=job_id), BROWSER) == f"Cancelling job {job_id}."
    assert queue.get(job_id, f"browser:{A}").state == CANCELLED
    assert pages.resume(theirs, BROWSER) == "No such job."  # a cancelled job, still not B's


def test_results_reach_only_their_owner_and_never_from_the_job_folder(
    tmp_path: Path, clip: Path
) -> None:
    server = server_at(tmp_path, runner=finish_at_once)
    pages = Pages(server)
    job_id = render_of(pages, A, clip)
    server.queue.start()
    try:
        assert server.queue.wait(job_id, f"browser:{A}", 30).state == DONE
    finally:
        server.queue.stop()
    out = pages.refresh(stored(B, render=job_id), {}, BROWSER)
    assert out[5] == gr.skip()  # B's page gets no downloads
    out = pages.refresh(stored(A, render=job_id), {}, BROWSER)
    files = out[5]
    assert isinstance(files, list) and len(files) == 1
    handed = Path(files[0])
    assert handed.parent.parent == server.cache / "results"  # Gradio's folder, a random name
    assert len(handed.parent.name) == 32 and handed.read_bytes() == b"result"
    assert not handed.is_relative_to(server.queue.jobs_dir)


def test_owners_survive_a_restart_and_a_login_is_one_owner(tmp_path: Path, clip: Path) -> None:
    pages = Pages(server_at(tmp_path))
    job_id = render_of(pages, A, clip)
    login = SimpleNamespace(username="editor")
    _, jobs, _ = pages.start_render(
        login, {"path": str(clip), "name": "clip.mp4"}, stored(A), *render_form()
    )
    restarted = Pages(server_at(tmp_path))  # a new queue reads jobs.json
    assert "No such job." not in restarted.refresh(stored(A, render=job_id), {}, BROWSER)[0]
    assert "No such job." in restarted.refresh(stored(B, render=job_id), {}, BROWSER)[0]
    # the user's job, from any browser that logged in as that user; not from a browser alone
    users = stored(B, render=jobs["render"])
    assert "No such job." not in restarted.refresh(users, {}, login)[0]
    assert "No such job." in restarted.refresh(users, {}, BROWSER)[0]


def render_form() -> list[Any]:
    return ["Embedded style", "19 blue-swirl", None, "", "", 0.7, "source", "lanczos", 0, False]


def test_a_page_without_a_token_gets_a_fresh_one_and_owns_nothing(tmp_path: Path) -> None:
    pages = Pages(server_at(tmp_path))
    given = pages.own_page({"render": "0001", "owner": "guessed"})
    assert isinstance(given, dict) and given["owner"] != "guessed" and len(given["owner"]) == 32
    assert pages.own_page(given) == gr.skip()  # a good token stays
    with pytest.raises(OptionError, match="no owner"):
        pages.queue.submit("render", Path("x.mp4"), STYLE, owner="")
    for sent in (["0001"], {"render": ["0001"], "owner": {"a": 1}}, "0001", None):  # any JSON
        assert "No job yet." in pages.refresh(sent, {}, BROWSER)[0]
        assert pages.cancel(sent, BROWSER) == "No job yet."
        assert isinstance(pages.own_page(sent)["owner"], str)


# 2. invalid path characters --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["clip\x00.mp4", "\x00", "a\nb.mp4", "clip\ud800.mp4"])
def test_a_bad_character_in_a_path_field_is_one_message(
    tmp_path: Path, clip: Path, text: str
) -> None:
    with pytest.raises(OptionError) as info:
        under_root(clip.parent, text)
    assert info.value.param == "root" and "\n" not in str(info.value)
    with pytest.raises(OptionError, match="model"):
        model_path(clip.parent, text)
    source, notice, _ = Pages(server_at(tmp_path)).take_pick(text)
    assert source == {} and notice.startswith("**Refused:** root path")


def test_a_nul_in_a_job_file_is_one_message(tmp_path: Path) -> None:
    pages = Pages(server_at(tmp_path))
    text = '[variants.a]\nstyle_image = "pic\\u0000.png"\n'
    notice = pages.check_job(text)
    assert notice == (
        "**Not valid:** job.toml: variants.a.style_image holds a NUL character, which no value may"
    )


# 3. Check refuses what the CLI refuses, before anything is queued -------------------------------


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("steps = 1000000000", f"steps must be a finite number in [1, {MAX_STEPS}]"),
        ("guidance = nan", "guidance must be a finite number"),
        ("strength = nan", "strength must be a finite number"),
        ("scheduler = 'bogus'", "scheduler must be one of"),
        ("prompt_transition = '99999999s'", "prompt_transition must be frames"),
    ],
)
def test_check_refuses_nonsense_values_before_any_job(
    tmp_path: Path, clip: Path, line: str, needle: str
) -> None:
    pages = Pages(server_at(tmp_path))
    text = f'[variants.a]\nprompt = "snow"\nmodel = "org/model"\n{line}\n'
    notice = pages.check_job(text)
    assert notice.startswith("**Not valid:**") and needle in notice, notice
    source = {"path": str(clip), "name": "clip.mp4"}
    notice, jobs = pages.start_variants(source, text, stored(A), BROWSER)
    assert notice.startswith("**Not started:**") and needle in notice and not jobs["variants"]
    assert pages.queue.all() == []


def test_a_nan_preview_strength_is_refused_before_any_job(tmp_path: Path, clip: Path) -> None:
    pages = Pages(server_at(tmp_path))
    source = {"path": str(clip), "name": "clip.mp4"}
    for rows in ("0.5, nan", "inf", "0.5, 1.5"):
        notice, _ = next(pages.run_preview(BROWSER, source, stored(A), rows, *render_form()))
        assert notice.startswith("**Not started:** strength"), notice
    with pytest.raises(OptionError, match="strength must be a finite number"):  # past the form
        pages.queue.submit(
            "preview", clip, STYLE, owner=f"browser:{A}", vary={"strength": [math.nan]}
        )
    with pytest.raises(OptionError, match="strength must be a finite number"):
        pages.queue.submit("render", clip, {**STYLE, "strength": math.nan}, owner=f"browser:{A}")
    assert pages.queue.all() == []


# 4. prompt schedules: a stated limit, and linear time -------------------------------------------


def schedule(entries: int) -> str:
    return "; ".join(f"{i}: street {i}" for i in range(entries))


def lines_run(work: Callable[[], object]) -> int:
    """Python lines (and calls) ``work`` runs in vidx/values/prompt_schedule.py: a count of
    work that does not depend on the machine's speed."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += event == "line"
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if frame.f_code.co_filename != prompt_schedule.__file__:
            return None
        count += 1
        return local

    before = sys.gettrace()
    sys.settrace(calls)
    try:
        work()
    finally:
        sys.settrace(before)
    return count


def test_prompt_schedules_parse_in_linear_time() -> None:
    def work(n: int) -> int:
        return lines_run(
            lambda: prompt_schedule.resolve(prompt_schedule.parse_schedule(schedule(n)), None)
        )

    small, double = work(500), work(1000)
    assert 1.8 < double / small < 2.2  # twice the entries, twice the work (quadratic: 4x)


def test_a_schedule_over_the_limits_is_refused_naming_the_option(tmp_path: Path) -> None:
    limit = prompt_schedule.MAX_ENTRIES
    assert len(prompt_schedule.parse_schedule(schedule(limit))) == limit
    with pytest.raises(OptionError, match=f"has 20000 entries, over the limit of {limit}") as info:
        prompt_schedule.parse_schedule(schedule(20_000))
    assert info.value.param == "prompt_schedule"
    long = "0: " + "x" * prompt_schedule.MAX_CHARS
    with pytest.raises(OptionError, match="characters, over the limit") as info:
        RestyleOptions(prompt_schedule=long, model="m")
    assert info.value.param == "prompt_schedule"
    entries = "0:a;" * 20_000  # within the page's job-file length, over the entries
    text = f'[variants.a]\nmodel = "org/model"\nprompt_schedule = "{entries}"\n'
    notice = Pages(server_at(tmp_path)).check_job(text)
    assert notice.endswith("job.toml:3: prompt_schedule has 20000 entries, over the limit of 10000")


# 5. uploads leave no temporary file --------------------------------------------------------------


def test_an_upload_leaves_no_temporary_file(
    tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through Gradio's own processing of the upload event (gr.File's preprocessing would
    leave an empty NamedTemporaryFile in its folder for every upload)."""
    from gradio.state_holder import SessionState

    from vidx.serve import app, view

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setattr(view, "style_thumbnails", lambda folder, device="cpu": [])
    server = server_at(tmp_path)
    demo = app.build(server)
    arrived = tmp_path / "gradio" / "3f2a" / "my clip.mp4"  # where Gradio stores an upload
    arrived.parent.mkdir(parents=True)
    arrived.write_bytes(clip.read_bytes())
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    payload = {
        "path": str(arrived),
        "orig_name": "my clip.mp4",
        "meta": {"_type": "gradio.FileData"},
    }
    for name in ("take_upload", "load_toml"):
        fn = next(f for f in demo.fns.values() if f.name == name)
        result = asyncio.run(demo.process_api(fn, [payload], state=SessionState(demo)))
        assert result["data"], name
    made = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    assert [p.parent for p in made] == [server.uploads]  # only the accepted copy
    assert all(p.stat().st_size > 0 for p in tmp_path.rglob("*") if p.is_file())


# 6. the server's pixel limit ---------------------------------------------------------------------


def test_a_job_file_cannot_raise_the_servers_pixel_limit(tmp_path: Path, clip: Path) -> None:
    pages = Pages(server_at(tmp_path, max_pixels=1000 * 1000))
    job = '[shared]\nmax_pixels = {}\n\n[variants.a]\nstyle = "ember"\n'
    for value in (2_000_000, 16384 * 16384):
        notice = pages.check_job(job.format(value))
        assert f"max_pixels {value} is above this server's limit of 1000000" in notice, notice
    assert "max_pixels must be" in pages.check_job(job.format("1e23"))
    assert pages.check_job(job.format(500_000)).startswith("Valid")  # lowering it is fine
    source = {"path": str(clip), "name": "clip.mp4"}
    assert pages.start_variants(source, job.format(2_000_000), stored(A), BROWSER)[0].startswith(
        "**Not started:**"
    )
    pages.start_variants(source, job.format(500_000), stored(A), BROWSER)
    with pytest.raises(OptionError, match="above this server's limit"):
        pages.queue.submit("render", clip, {**STYLE, "max_pixels": 2_000_000}, owner=f"browser:{A}")
    render_of(pages, A, clip)
    asked = [j.options["max_pixels"] for j in pages.queue.all()]
    assert asked == [500_000, 1000 * 1000]  # the job file's lower one; else the server's


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header says ``width x height`` (its pixel data left out)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_uploads_over_the_pixel_limit_are_refused(tmp_path: Path, clip: Path) -> None:
    store = tmp_path / "store"
    picture = tmp_path / "big.png"
    cv2.imwrite(str(picture), np.zeros((300, 300, 3), np.uint8))  # 1 kB, 90000 pixels
    with pytest.raises(InputError, match=r"300x300 .* over this server's limit of 40000 pixels"):
        accept_upload(picture, "big.png", store, 10**8, max_pixels=200 * 200)
    with pytest.raises(InputError, match="over this server's limit of 6143"):
        accept_upload(clip, "clip.mp4", store, 10**8, max_pixels=96 * 64 - 1)
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header(20000, 20000))
    with pytest.raises(InputError, match="20000x20000 .* over this server's limit"):
        accept_upload(huge, "huge.png", store, 10**8)  # the library's default limit
    assert not store.exists()  # nothing stored
    accept_upload(picture, "big.png", store, 10**8, max_pixels=300 * 300)
    pages = Pages(server_at(tmp_path, max_pixels=200 * 200))
    source, notice, *_ = pages.take_upload({"path": str(picture), "orig_name": "big.png"})
    assert source == {} and "over this server's limit of 40000 pixels" in notice


def test_the_server_flag_sets_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from vidx.serve.start import serve

    with pytest.raises(OptionError, match="max_pixels must be a pixel count"):
        serve(max_pixels=0)
    from typer.testing import CliRunner

    from vidx.cli import app

    assert "--max-pixels" in CliRunner().invoke(app, ["serve", "--help"]).stdout
