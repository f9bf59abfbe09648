"""Root confinement and upload checks of the web UI (no browser, no server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_clip
from vidx.errors import InputError, OptionError
from vidx.serve.paths import accept_upload, check_media, list_media, safe_name, under_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    (base / "shots").mkdir(parents=True)
    make_clip(base / "shots" / "a.mp4", frames=3)
    (base / "notes.txt").write_text("hello")
    return base


def test_under_root_accepts_relative_paths(root: Path) -> None:
    assert under_root(root, "shots/a.mp4") == Path(os.path.realpath(root / "shots" / "a.mp4"))
    assert under_root(root, "./shots/a.mp4").name == "a.mp4"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("../secret.mp4", "may not contain '..'"),
        ("shots/../../x.mp4", "may not contain '..'"),
        ("shots\\..\\..\\x.mp4", "may not contain '..'"),
        ("/etc/passwd", "must be relative"),
        ("~/clip.mp4", "must be relative"),
        ("   ", "is empty"),
    ],
)
def test_under_root_refuses_escapes(root: Path, text: str, why: str) -> None:
    with pytest.raises(OptionError, match=why) as info:
        under_root(root, text)
    assert info.value.param == "root"


def test_symlink_out_of_root_is_refused_and_not_listed(root: Path, tmp_path: Path) -> None:
    outside = make_clip(tmp_path / "outside.mp4", frames=3)
    (root / "link.mp4").symlink_to(outside)
    (root / "inside-link.mp4").symlink_to(root / "shots" / "a.mp4")
    with pytest.raises(OptionError, match="leads outside the root"):
        under_root(root, "link.mp4")
    assert list_media(root) == ["inside-link.mp4", "shots/a.mp4"]


def test_check_media_names_the_file(root: Path, tmp_path: Path) -> None:
    assert check_media(root / "shots" / "a.mp4").startswith("a.mp4: h264 96x64, 3 frames")
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video at all")
    with pytest.raises(InputError, match="fake.mp4 is not a video or picture vidx can read"):
        check_media(fake)


def test_accept_upload_checks_size_and_media_before_storing(root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    stored, summary = accept_upload(root / "shots" / "a.mp4", "my clip.mp4", store, 10**7)
    assert stored.parent == store and stored.name.endswith("-my_clip.mp4")
    assert summary.startswith("my_clip.mp4: h264 96x64")
    with pytest.raises(InputError, match="over the 0 MB limit"):
        accept_upload(root / "shots" / "a.mp4", "a.mp4", tmp_path / "other", 10)
    fake = tmp_path / "fake.mp4"
    fake.write_text("plain text")
    with pytest.raises(InputError, match="fake.mp4 is not a video"):
        accept_upload(fake, "fake.mp4", tmp_path / "other", 10**7)
    assert not (tmp_path / "other").exists()


def test_safe_name() -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\x y.mp4") == "x_y.mp4"
    assert safe_name(".hidden.mp4") == "hidden.mp4"
    assert safe_name("") == "upload"
