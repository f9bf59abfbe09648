"""Which files the web UI may read: clips under ``--root`` (never outside it) and checked uploads.

Convention: a path the browser sends is *relative to the root*; it is refused when it holds a
character no file name can (NUL, other control characters, text that is not Unicode), when
absolute, when any part is ``..``, or when it resolves (symbolic links followed) outside the
root. An upload is accepted only within the size limit, when :func:`vidx.io.probe.probe` reads it
as media and when its pictures are within the server's pixel limit (``vidx serve --max-pixels``:
a picture's width times height as its decoder makes it, from the header), before any job sees
it; accepted uploads are copied into the server's state folder so a restarted server still has
them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path, PurePosixPath

from vidx.errors import InputError, OptionError
from vidx.io.images import is_image_path
from vidx.io.inputs import MAX_PIXELS, check_pixels, check_regular_file

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mxf", ".ts", ".gif")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
MEDIA_SUFFIXES = VIDEO_SUFFIXES + PICTURE_SUFFIXES
MAX_LISTED = 500  # clips offered in the root picker
MAX_PATH_CHARS = 4096  # the longest path a form field may send (PATH_MAX on Linux)


def path_text(text: str, param: str) -> str:
    """``text`` stripped, when it can name a file; OptionError naming ``param`` when it holds a
    NUL or another control character, cannot be encoded as a file name, or is over
    :data:`MAX_PATH_CHARS` characters (``os.stat`` would raise ValueError or OSError)."""
    text = text.strip()
    if len(text) > MAX_PATH_CHARS:
        raise OptionError(f"path is over {MAX_PATH_CHARS} characters", param=param)
    bad = next((c for c in text if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise OptionError(
            f"path {text!r} holds the character {bad!r}, which no file name can", param=param
        )
    try:
        os.fsencode(text)
    except UnicodeError:
        raise OptionError(f"path {text!r} is not valid text for a file name", param=param) from None
    return text


def under_root(root: Path, relative: str) -> Path:
    """The real path of ``relative`` inside ``root``; OptionError(param="root") when it is
    empty, not a possible file name (:func:`path_text`), absolute, has a ``..`` part, or leaves
    ``root`` through a symbolic link."""
    text = path_text(relative, "root")
    if not text:
        raise OptionError("path is empty; pick a clip under the root folder", param="root")
    parts = PurePosixPath(text.replace("\\", "/"))
    if parts.is_absolute() or text.startswith("~"):
        raise OptionError(f"path {text!r} must be relative to the root folder", param="root")
    if ".." in parts.parts:
        raise OptionError(f"path {text!r} may not contain '..'", param="root")
    base = Path(os.path.realpath(root))
    real = Path(os.path.realpath(base / parts))
    if real != base and base not in real.parents:
        raise OptionError(f"path {text!r} leads outside the root folder", param="root")
    return real


def list_media(root: Path, limit: int = MAX_LISTED) -> list[str]:
    """Media files under ``root`` as sorted relative paths (hidden folders and links that leave
    the root skipped), at most ``limit``."""
    base = Path(os.path.realpath(root))
    found: list[str] = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(MEDIA_SUFFIXES):
                continue
            rel = Path(folder, name).relative_to(base).as_posix()
            try:
                under_root(base, rel)
            except OptionError:
                continue
            found.append(rel)
            if len(found) >= limit:
                return found
    return found


def check_media(path: Path, name: str | None = None, max_pixels: int = MAX_PIXELS) -> str:
    """A one-line summary of the clip or picture at ``path``; InputError naming ``name`` (the
    file's name as the user knows it) when it is not media vidx can read, or when its picture
    (a video's frame) has more than ``max_pixels`` pixels."""
    from vidx.io.probe import probe

    shown = name or path.name
    try:
        check_regular_file(path, "file")
        if is_image_path(path):
            from vidx.io.inputs import image_size

            w, h = image_size(path)
        else:
            info = probe(path)
            w, h = info.width, info.height
    except InputError as exc:
        why = str(exc).replace(str(path), shown).removeprefix(f"{shown}: ")  # no server paths
        raise InputError(f"{shown} is not a video or picture vidx can read ({why})") from None
    check_size(w, h, max_pixels, shown)
    if is_image_path(path):
        return f"{shown}: picture {w}x{h}"
    frames = f"{info.frames} frames" if info.frames else "? frames"
    dur = f", {info.duration:.2f} s" if info.duration else ""
    return f"{shown}: {info.codec} {info.width}x{info.height}, {frames}{dur}"


def check_size(width: int, height: int, limit: int, shown: str) -> None:
    """:func:`vidx.io.inputs.check_pixels`, said for the web: the page cannot raise the limit,
    only the person who starts the server can (``vidx serve --max-pixels``)."""
    if width * height <= limit:
        check_pixels(width, height, limit, shown)  # an empty picture
        return
    raise InputError(
        f"{shown} is {width}x{height} ({width * height / 1e6:.3g} megapixels), over this "
        f"server's limit of {limit} pixels"
    )


def accept_upload(
    upload: Path, name: str, store: Path, max_bytes: int, max_pixels: int = MAX_PIXELS
) -> tuple[Path, str]:
    """Check an uploaded file (size, then media and its pixel count) and copy it into
    ``store``; returns the stored path and its summary. Nothing is stored when a check fails
    (InputError)."""
    size = upload.stat().st_size
    if size > max_bytes:
        raise InputError(f"{name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    clean = safe_name(name)
    check_media(upload, clean, max_pixels)
    digest = _digest(upload)
    target = store / f"{digest[:16]}-{clean}"
    if not target.exists():
        store.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(upload, tmp)
        os.replace(tmp, target)
    return target, check_media(target, clean, max_pixels)


def accept_edit(upload: Path, name: str, store: Path, max_bytes: int) -> tuple[Path, str]:
    """Check an uploaded edit (.otio, .edl, .xml: its size, then that OpenTimelineIO reads a
    timeline from it) and copy it into ``store``; returns the stored path and a summary.
    Nothing is stored when a check fails (InputError, saying no server path)."""
    from vidx.io.edit import ADAPTERS, read_edit, video_clips

    size = upload.stat().st_size
    if size > max_bytes:
        raise InputError(f"{name} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    clean = safe_name(name)
    if Path(clean).suffix.lower() not in ADAPTERS:
        raise InputError(f"{clean} is not an edit vidx reads ({', '.join(ADAPTERS)})")
    digest = _digest(upload)
    target = store / digest[:16] / clean  # (its own name: the relinked edit takes it)
    staged = target.with_name(f".{digest[16:24]}.tmp{Path(clean).suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(upload, staged)  # (read under its own suffix: the adapter goes by it)
    try:
        clips = video_clips(read_edit(staged))
    except InputError as exc:
        staged.unlink()
        raise InputError(str(exc).replace(str(staged), clean)) from None  # (no server paths)
    except Exception as exc:  # noqa: BLE001 - OpenTimelineIO on a timeline it half read
        staged.unlink()
        raise InputError(f"{clean}: not an edit vidx can read ({exc})") from None
    os.replace(staged, target)
    return target, f"{clean}: {len(clips)} video clips"


def safe_name(name: str) -> str:
    """A file name with no folder part and only ordinary characters (``clip 1.mp4`` ->
    ``clip_1.mp4``)."""
    base = Path(name.replace("\\", "/")).name or "upload"
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).lstrip(".")
    return kept[-120:] or "upload"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_path(root: Path | None, text: str) -> str:
    """A model under the root (a folder or a file), or a hub id; any other path is refused."""
    text = path_text(text, "model")
    if root is not None:
        try:
            found = under_root(root, text)
        except OptionError:
            found = None
        if found is not None and found.exists():
            return str(found)
    looks_like_path = text.startswith(("/", ".", "~")) or text.count("/") > 1 or "\\" in text
    if looks_like_path or Path(text).suffix:
        raise OptionError(
            f"{text!r} is not a model folder or file under the root folder", param="model"
        )
    return text
