"""``vidx serve`` in a real browser: Debian's headless Chromium driven by Playwright.

One real ``vidx serve`` subprocess (a free localhost port, a temporary ``--root`` and state
folder) serves every test here; each test has a fresh page. Screenshots of each step go to
``.cache/test-artifacts/serve/`` (or ``$VIDX_TEST_ARTIFACTS``). No browser is downloaded: the
tests use ``/usr/bin/chromium`` (``make test`` installs it as root) and skip, saying why, when
it or the Python packages are missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import make_clip

CHROMIUM = Path(os.environ.get("VIDX_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(
    os.environ.get("VIDX_TEST_ARTIFACTS", REPO / ".cache" / "test-artifacts" / "serve")
)
START_TIMEOUT = 150  # s: importing gradio and torch on a loaded 2-core machine
JOB_TIMEOUT = 90_000  # ms


def missing() -> str | None:
    for module, package in (("playwright", "playwright"), ("gradio", "gradio")):
        if importlib.util.find_spec(module) is None:
            return f"the Python package {package} is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"Debian's chromium is not at {CHROMIUM} (apt-get install chromium; `make test` "
            "does it when run as root)"
        )
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


def frames_of(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """The running server: its address and folders."""

    def __init__(self, url: str, root: Path, state: Path, outside: Path) -> None:
        self.url, self.root, self.state, self.outside = url, root, state, outside

    def jobs(self) -> list[dict[str, Any]]:
        file = self.state / "jobs.json"
        return json.loads(file.read_text())["jobs"] if file.exists() else []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("serve")
    root, state = base / "root", base / "state"
    root.mkdir()
    make_clip(root / "clip.mp4", frames=12, size=(96, 64))
    outside = make_clip(base / "outside.mp4", frames=3)
    (root / "escape.mp4").symlink_to(outside)
    port = free_port()
    log = open(base / "server.log", "w")  # noqa: SIM115 - closed below
    cmd = [sys.executable, "-m", "vidx", "serve", "--port", str(port), "--root", str(root)]
    env = {**os.environ, "VIDX_AUTH": ""}
    proc = subprocess.Popen(
        [*cmd, "--state", str(state)], stdout=log, stderr=subprocess.STDOUT, cwd=base, env=env
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc, base / "server.log")
        yield Served(url, root, state, outside)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(base / "server.log", ARTIFACTS / "server.log")


def wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"vidx serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"vidx serve did not answer within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    open_page(tab, server)
    yield tab
    context.close()


def open_page(tab: Any, server: Served) -> None:
    tab.goto(server.url)
    tab.wait_for_selector("#upload input[type=file]", state="attached")


def shot(tab: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def upload(tab: Any, path: Path) -> None:
    tab.locator("#upload input[type=file]").set_input_files(str(path))


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_upload_style_preview_render_download(page: Any, server: Served, tmp_path: Path) -> None:
    check = expect()
    clip = server.root / "clip.mp4"
    upload(page, clip)
    check(page.locator("#source-info")).to_contain_text("clip.mp4: h264 96x64, 12 frames")
    shot(page, "01-uploaded")
    page.locator("#styles").get_by_text("5 ember", exact=True).click()
    check(page.get_by_label("Style", exact=True)).to_have_value("5 ember")
    shot(page, "02-style-picked")
    page.click("#preview")
    check(page.locator("#sheet img")).to_be_visible(timeout=JOB_TIMEOUT)
    check(page.locator("#message")).to_contain_text("done")
    shot(page, "03-preview")
    page.click("#render")
    done = page.locator("#job-state[data-state=done]").first
    check(done).to_be_visible(timeout=JOB_TIMEOUT)
    check(done).to_contain_text("done: 12 frames")
    link = page.locator("#downloads a[href$='/clip-vidx.mp4']")
    check(link).to_be_visible()
    check(page.locator("#result video")).to_have_count(1)
    shot(page, "04-rendered")
    with page.expect_download() as info:
        link.click()
    got = tmp_path / "downloaded.mp4"
    info.value.save_as(got)
    assert frames_of(got) == frames_of(clip) == 12
    hrefs = [a.get_attribute("href") or "" for a in page.locator("#downloads a").all()]
    assert any(h.endswith("/clip-vidx.mp4.json") for h in hrefs)  # the sidecar, too
    page.reload()  # the job is found again after a reload
    check(page.locator("#job-state[data-state=done]").first).to_contain_text("done: 12 frames")
    check(page.locator("#downloads a[href$='/clip-vidx.mp4']")).to_be_visible()
    shot(page, "05-after-reload")
    job = [j for j in server.jobs() if j["kind"] == "render"][-1]
    assert job["options"]["style"] == "5" and job["state"] == "done"


def test_refused_inputs_make_no_job(page: Any, server: Served, tmp_path: Path) -> None:
    """A text file named .mp4, a root path with '..' and a link out of the root."""
    check = expect()
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is a text file, not a video\n")
    before = len(server.jobs())
    upload(page, fake)
    notice = page.locator("#source-info")
    check(notice).to_contain_text("Not accepted: holiday.mp4 is not a video or picture")
    check(notice).to_contain_text("No job was made")
    assert str(server.state) not in notice.inner_text()  # no server paths shown
    page.click("#render")
    check(page.locator("#message")).to_contain_text("Choose a clip first")
    shot(page, "06-text-file-refused")
    box = page.locator("#pick input")
    for typed, why, name in (
        ("../outside.mp4", "may not contain '..'", "07-root-refused-dotdot"),
        ("escape.mp4", "leads outside the root", "08-root-refused-symlink"),
    ):
        box.fill(typed)
        box.press("Enter")
        check(notice).to_contain_text(f"Refused: root path {typed!r} {why}")
        page.click("#preview")
        check(page.locator("#message")).to_contain_text("Choose a clip first")
        shot(page, name)
    assert len(server.jobs()) == before


def test_two_jobs_at_once_run_one_after_the_other(page: Any, browser: Any, server: Served) -> None:
    other = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    open_page(other, server)
    tabs = [page, other]
    for tab in tabs:
        box = tab.locator("#pick input")
        box.fill("clip.mp4")
        box.press("Enter")
        expect()(tab.locator("#source-info")).to_contain_text("Source (root folder): clip.mp4")
    before = len(server.jobs())
    for tab in tabs:
        tab.click("#render")
    for tab in tabs:
        expect()(tab.locator("#job-state[data-state=done]").first).to_be_visible(
            timeout=JOB_TIMEOUT
        )
    page.get_by_role("tab", name="Jobs").click()
    expect()(page.locator("#jobs")).to_contain_text("done")
    shot(page, "09-two-jobs")
    first, second = server.jobs()[before:]
    assert first["state"] == second["state"] == "done"
    assert second["started"] >= first["finished"]  # one after the other, never together
    other.context.close()


def test_no_arbitrary_file_is_served(page: Any, server: Served) -> None:
    results = [f for job in server.jobs() for f in job["files"]]  # only as copies, to their owner
    assert results  # the tests above made some
    paths = ["/etc/passwd", str(server.state / "jobs.json"), str(server.root / "clip.mp4")]
    for path in paths + results:
        response = page.request.get(f"{server.url}gradio_api/file={path}")
        assert response.status == 403, path


def write_job(page: Any, text: str) -> None:
    """Types a job into the Variants textbox and waits until it holds exactly that text."""
    toml = page.locator("#toml textarea")
    toml.fill(text)
    expect()(toml).to_have_value(text)
    toml.blur()  # Gradio takes the text on change: a click right after fill can check the old


def test_variants_page_checks_the_job_and_renders_every_variant(page: Any, server: Served) -> None:
    box = page.locator("#pick input")
    box.fill("clip.mp4")
    box.press("Enter")
    expect()(page.locator("#source-info")).to_contain_text("Source (root folder): clip.mp4")
    page.get_by_role("tab", name="Variants").click()
    toml = page.locator("#toml textarea")
    # the tab mounts its textbox when first shown, and the mount sets the sample job: typing
    # before that lands in a textarea that is then overwritten (CI saw the sample checked)
    expect()(toml).to_have_value(re.compile(r"\[variants\.swirl\]"))
    write_job(page, '[variants.a]\nstyle = "ember"\nstrenght = 0.5\n')
    page.click("#check-job")
    notice = page.locator("#variants-message")
    expect()(notice).to_contain_text("job.toml:3: 'strenght' is not a key of [variants.a]")
    shot(page, "10-variants-invalid")
    write_job(page, '[variants.swirl]\nstyle = "blue-swirl"\n\n[variants.ember]\nstyle = "ember"\n')
    page.click("#check-job")
    expect()(notice).to_contain_text("Valid: 2 variants (swirl, ember)")
    page.click("#render-variants")
    state = page.locator("#variants-status #job-state[data-state=done]")
    expect()(state).to_contain_text("done: 12 frames", timeout=JOB_TIMEOUT)
    for name in ("swirl.mp4", "ember.mp4"):
        expect()(page.locator(f"#variants-files a[href$='/{name}']")).to_be_visible()
    shot(page, "11-variants-rendered")
    job = server.jobs()[-1]
    assert job["kind"] == "variants" and job["state"] == "done"
    assert sorted(Path(f).name for f in job["files"] if f.endswith(".mp4")) == [
        "ember.mp4",
        "swirl.mp4",
    ]
    assert all(frames_of(Path(f)) == 12 for f in job["files"] if f.endswith(".mp4"))


def test_timeline_page_dry_runs_and_renders_an_edit(page: Any, server: Served, tmp_path: Path):
    import opentimelineio as otio

    from tests.vidx.test_timeline import SOURCES, cut_list, make_source

    footage = server.root / "footage"
    footage.mkdir(exist_ok=True)
    for take, (mid, frames, tc, reel) in SOURCES.items():
        make_source(footage / f"{take}.mov", mid, frames, tc, reel)
    edl = tmp_path / "spot.edl"  # its clips name paths that are not there: found by name
    otio.adapters.write_to_file(cut_list(tmp_path / "elsewhere"), str(edl), "cmx_3600")
    page.get_by_role("tab", name="Timeline").click()
    page.locator("#edit-upload input[type=file]").set_input_files(str(edl))
    notice = page.locator("#edit-message")
    expect()(notice).to_contain_text("Edit: spot.edl: 6 video clips")
    for box, value in (("#media-root", "footage"), ("#handles", "2")):
        field = page.locator(f"{box} textarea, {box} input").first
        field.fill(value)
        expect()(field).to_have_value(value)
        field.blur()
    page.click("#dry-run")
    expect()(notice).to_contain_text("6 video clips, 5 pieces, 56 frames to render")
    expect()(page.locator("#edit-plan")).to_contain_text("a_000002-000015")
    shot(page, "12-timeline-dry-run")
    page.click("#render-edit")
    state = page.locator("#edit-status #job-state[data-state=done]")
    expect()(state).to_contain_text("done: 56 frames", timeout=JOB_TIMEOUT)
    for name in ("spot.edl", "spot.otio", "a_000002-000015.mov"):
        expect()(page.locator(f"#edit-files a[href$='/{name}']")).to_be_visible()
    shot(page, "13-timeline-rendered")
    job = server.jobs()[-1]
    assert job["kind"] == "timeline" and job["state"] == "done"
    assert sorted(Path(f).name for f in job["files"] if f.endswith(".mov")) == [
        "a_000002-000015.mov",
        "b_000008-000017.mov",
        "b_000042-000051.mov",
        "c_000003-000014.mov",
        "c_000018-000027.mov",
    ]
