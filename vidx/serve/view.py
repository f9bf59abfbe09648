"""What the web UI shows and sends, as plain functions: the form's values as API options, a job's
status line and progress bar, the jobs table, and the style thumbnails. No Gradio here."""

from __future__ import annotations

import html
import math
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidx.errors import OptionError, VidxError
from vidx.options import DIFFUSION_STRENGTH
from vidx.serve.queue import CANCELLED, DONE, FAILED, RUNNING, WAITING, Job

EMBEDDED, PICTURE, DIFFUSION = "Embedded style", "Style from a picture", "Diffusion (prompt)"
BACKENDS = (EMBEDDED, PICTURE, DIFFUSION)
SIZES = ("source", "x2", "x3", "x4", "720p", "1080p", "1440p", "4k", "8k")
THUMB_SIZE = (160, 104)  # width, height of a style thumbnail


def style_choices() -> list[str]:
    """``"19 blue-swirl"`` for each embedded style, index order."""
    from vidx.restyle.style_catalog import list_styles

    return [f"{s.index} {s.name}" for s in list_styles()]


def upscaler_choices() -> list[str]:
    from vidx.upscale.registry import list_models

    return [m.name for m in list_models()]


@dataclass(frozen=True)
class RestyleForm:
    """The values of the restyle form's fields, in the order the page hands them over."""

    backend: str
    style: str | None
    style_image: str | None
    prompt: str | None
    model: str | None
    strength: float
    size: str
    upscaler: str
    seed: float | None
    compare: bool
    steady: bool = True  # upscale_temporal: a learned upscaler held steady along the flow


def form_options(form: RestyleForm) -> dict[str, Any]:
    """The restyle form as :func:`vidx.render` keyword arguments (OptionError when a field the
    chosen backend needs is missing; the API checks the values themselves)."""
    backend, style, style_image = form.backend, form.style, form.style_image
    prompt, model, seed = form.prompt, form.model, form.seed
    opts: dict[str, Any] = {
        "size": (form.size or "source").strip(),
        "upscaler": form.upscaler or "lanczos",
        "strength": float(form.strength),
    }
    if backend == EMBEDDED:
        if not style:
            raise OptionError("pick a style from the gallery or the list", param="style")
        opts["style"] = style.split()[0]
    elif backend == PICTURE:
        if not style_image:
            raise OptionError("upload a picture to take the style from", param="style_image")
        opts["style_image"] = style_image
    elif backend == DIFFUSION:
        if not (prompt or "").strip():
            raise OptionError("is needed for the diffusion restyle", param="prompt")
        if not (model or "").strip():
            raise OptionError("is needed for the diffusion restyle", param="model")
        opts.update(prompt=prompt, model=model)
        if opts["strength"] <= 0:
            opts["strength"] = DIFFUSION_STRENGTH  # the backend's default, declared once
    else:
        raise OptionError(f"must be one of {', '.join(BACKENDS)}, got {backend!r}", param="backend")
    if seed is not None:
        if not float(seed).is_integer():
            raise OptionError(f"must be a whole number, got {seed}", param="seed")
        opts["seed"] = int(seed)
    if form.compare:
        opts["compare"] = "side"
    if not form.steady:
        opts["upscale_temporal"] = False
    return opts


def number_list(text: str, param: str = "strength") -> list[float]:
    """``"0.25, 0.5"`` -> ``[0.25, 0.5]`` (OptionError naming ``param``; ``nan`` and ``inf``
    are no numbers here)."""
    try:
        values: list[float] | None = [
            float(v) for v in text.replace(";", ",").split(",") if v.strip()
        ]
    except ValueError:
        values = None
    if values is None or not all(math.isfinite(v) for v in values):
        raise OptionError(f"must be a comma list of finite numbers, got {text[:80]!r}", param=param)
    if not values or len(values) > 8:
        raise OptionError(f"needs 1 to 8 values, got {text[:80]!r}", param=param)
    return values


def clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def state_text(job: Job, place: int | None) -> str:
    """One line: ``job 0002 waiting: 1 job ahead``, ``job 0002 running: 5/12 frames ...``."""
    head = f"job {job.id} ({job.kind} of {job.name})"
    if job.state == WAITING:
        ahead = place or 0
        when = "next in line" if ahead == 0 else f"{ahead} job{'s' * (ahead > 1)} ahead"
        return f"{head} waiting: {when}"
    if job.state == RUNNING:
        if job.phase and not job.done:
            return f"{head} running: {job.phase}"
        total = job.total if job.total is not None else "?"
        return f"{head} running: {job.done}/{total} frames, {job.fps:.1f} fps, ETA {clock(job.eta)}"
    if job.state == DONE:
        took = (job.finished or 0) - (job.started or 0)
        frames = f"{job.frames} frames, " if job.frames is not None else ""
        return f"{head} done: {frames}{took:.1f} s"
    if job.state == FAILED:
        return f"{head} failed: {job.error}"
    if job.state == CANCELLED:
        return f"{head} {job.note or 'cancelled'}"
    return f"{head} {job.state}"


NO_SUCH_JOB = "No such job."


def status_html(job: Job | None, place: int | None, job_id: str | None = None) -> str:
    """The status line and a progress bar (``<progress>``) for the page; ``job`` None is
    "No job yet." or, when the page asked for ``job_id``, :data:`NO_SUCH_JOB`."""
    if job is None:
        return f"<div id='job-state'>{NO_SUCH_JOB if job_id else 'No job yet.'}</div>"
    value = job.done if job.total else 0
    top = job.total or 1
    if job.state == DONE:
        value = top
    bar = f"<progress value='{value}' max='{top}' style='width:100%'></progress>"
    line = html.escape(state_text(job, place))
    return f"<div id='job-state' data-state='{job.state}'>{line}</div>{bar}"


JOB_COLUMNS = ["job", "kind", "input", "state", "progress", "fps", "ETA", "note"]
EDIT_COLUMNS = ["what", "media", "frames", "clips / why"]


def edit_rows(plan: Any, root: Path, shown: str) -> list[list[str]]:
    """An edit's dry run as table rows (:class:`vidx.jobs.timeline_plan.TimelinePlan`): one
    per piece, one per clip whose media is missing; the media root's server path said as
    ``shown``."""
    rows = []
    for p in plan.pieces:
        frames = f"{p.first}-{p.end - 1} ({p.frames}, {p.used} used)"
        rows.append([p.name, p.media.name, frames, ", ".join(str(i + 1) for i in p.clips)])
    for c in plan.missing:
        why = (c.error or "").replace(str(root), shown)
        rows.append([f"missing: clip {c.clip.index + 1}", c.clip.name, c.clip.where, why])
    return rows


def job_rows(jobs: list[Job], places: dict[str, int | None]) -> list[list[str]]:
    """The jobs table, newest first."""
    rows = []
    for j in reversed(jobs):
        state = j.state
        if j.state == WAITING:
            state = f"waiting ({(places.get(j.id) or 0) + 1} in line)"
        progress = f"{j.done}/{j.total}" if j.total else ("–" if j.state != DONE else "✓")
        fps = f"{j.fps:.1f}" if j.fps else "–"
        rows.append(
            [j.id, j.kind, j.name, state, progress, fps, clock(j.eta), j.error or j.note or ""]
        )
    return rows


def thumbnail_source() -> np.ndarray:
    """A small made-up scene to show the styles on before any clip is chosen: ``(H, W, 3)``
    uint8 (sky, sun, hills, a road; deterministic)."""
    w, h = THUMB_SIZE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([90 + 120 * y / h, 140 + 60 * y / h, 230 - 60 * y / h], -1)
    img = sky
    sun = (x - 0.72 * w) ** 2 + (y - 0.28 * h) ** 2 < (0.11 * h) ** 2
    img[sun] = (255, 214, 90)
    far = y > 0.55 * h + 0.08 * h * np.sin(x / 13.0)
    img[far] = (70, 120, 90)
    near = y > 0.72 * h + 0.06 * h * np.cos(x / 21.0 + 1.0)
    img[near] = (40, 90, 40)
    road = near & (np.abs(x - 0.35 * w - (y - h) * 0.6) < 4 + (y - 0.72 * h) * 0.3)
    img[road] = (150, 140, 130)
    return img.clip(0, 255).astype(np.uint8)


def style_thumbnails(folder: Path, device: str = "cpu") -> list[tuple[str, str]]:
    """One PNG per embedded style in ``folder`` (made once, kept): ``[(path, "19 blue-swirl")]``."""
    import cv2

    from vidx.restyle.style import onnx_providers, onnx_session, stylize_builtin
    from vidx.restyle.style_catalog import list_styles, parse_style

    folder.mkdir(parents=True, exist_ok=True)
    source = thumbnail_source()
    session = None
    out = []
    for info in list_styles():
        path = folder / f"style-{info.index:02d}.png"
        if not path.is_file():
            session = session or onnx_session("multistyle26", onnx_providers(device))
            styled = stylize_builtin(source, parse_style(info.index), session)
            rgb = np.clip(styled * 255.0 + 0.5, 0, 255).astype(np.uint8)
            tmp = path.with_name(f".{path.name}.tmp.png")
            cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            tmp.replace(path)
        out.append((str(path), f"{info.index} {info.name}"))
    return out


def before_after(job: Job) -> tuple[str, str] | None:
    """The middle frame of the source and of the result as two PNGs in the job's folder."""
    import cv2

    from vidx.jobs.preview import grab_frames

    if not job.files or not job.files[0].endswith(".mp4"):
        return None
    folder = Path(job.output).parent
    pair = (folder / "before.png", folder / "after.png")
    if not all(p.is_file() for p in pair):
        try:
            for path, clip in zip(pair, (job.input, job.files[0]), strict=True):
                rgb = grab_frames(clip, 1)[0][1]
                cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        except (VidxError, OSError, IndexError):
            return None
    return str(pair[0]), str(pair[1])


def hand_out(job: Job, paths: list[str], cache: Path) -> list[str]:
    """Copies of a job's result files for its owner's page, in ``cache/results/KEY/`` (Gradio's
    own folder, KEY the job's random ``link_key``): the server serves no job folder itself, so
    a result can be fetched only through a link its owner's page was given. Hard links where
    the file system allows, so a large video is not copied; files no longer there are left
    out."""
    folder = cache / "results" / job.link_key
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for source in map(Path, paths):
        target = folder / source.name
        if not source.is_file():
            continue
        if not (target.exists() and os.path.samefile(target, source)):
            tmp = folder / f".{source.name}.{secrets.token_hex(4)}.tmp"  # two pages at once
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        out.append(str(target))
    return out
