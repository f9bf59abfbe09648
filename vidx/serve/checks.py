"""What the web UI checks before it queues anything, with the rules the CLI applies.

The options go through :class:`vidx.options.JobOptions` (each option group's checks, the same
for CLI flags, job-file keys and API keyword arguments), a preview's rows through
:func:`vidx.jobs.preview.plan_rows` and a job file through
:func:`vidx.jobs.jobfile.load_job`, so a value
the CLI refuses is refused by Check, Preview and Render before any job exists. On top of them:
the server's pixel limit (``vidx serve --max-pixels``), which a form value or a job file may
lower but never raise, and limits on what a page may send (a job file's length, a NUL
character in it).
"""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path
from typing import Any

from vidx.errors import OptionError, VidxError
from vidx.jobs.jobfile import Job as JobFile

PREVIEW_FRAMES, PREVIEW_WIDTH = 3, 320  # the sheet a web preview makes (frames, cell width)
MAX_JOB_CHARS = 100_000  # a job file pasted or uploaded into the page


def check_request(
    kind: str,
    options: dict[str, Any],
    cap: int,
    scratch: Path,
    *,
    vary: dict[str, list] | None = None,
    job_text: str | None = None,
) -> dict[str, Any]:
    """The options a web job of ``kind`` runs with, after every check: ``max_pixels`` is the
    server's ``cap`` or the lower value asked. OptionError (naming the option) otherwise.

    ``vary`` holds a preview's rows; ``job_text`` a variants job's TOML (checked in a
    temporary folder under ``scratch``).
    """
    from vidx.options import JobOptions, TimelineOptions

    asked = dict(options)
    if kind == "timeline":  # the edit's own options (media root, handles), then the job's
        edit = {k: options[k] for k in TimelineOptions.names() if k in options}
        TimelineOptions.from_flat(edit)
        options = {k: v for k, v in options.items() if k not in edit}
    checked = JobOptions().with_values(**options)  # the CLI's checks of every value
    if kind == "preview":
        from vidx.jobs.preview import plan_rows

        plan_rows(checked.restyle, vary or {}, PREVIEW_FRAMES, PREVIEW_WIDTH)
    if kind == "variants":
        job = parse_job(job_text or "", scratch, cap)
        asked.setdefault("max_pixels", job.shared.get("max_pixels", cap))
    return capped(asked, cap)


def capped(options: dict[str, Any], cap: int) -> dict[str, Any]:
    """``options`` with ``max_pixels`` set: the value asked when it is at most the server's
    ``cap``, else ``cap`` itself when none is asked; OptionError when one above ``cap`` is."""
    asked = options.get("max_pixels", cap)
    if asked > cap:
        raise OptionError(
            f"{asked} is above this server's limit of {cap} pixels (it may only be lowered; the "
            "limit is vidx serve --max-pixels)",
            param="max_pixels",
        )
    return {**options, "max_pixels": asked}


def parse_job(text: str, scratch: Path, cap: int) -> JobFile:
    """Check a TOML job as ``vidx variants --job`` does, and against the page's limits and the
    server's pixel ``cap``; errors read ``job.toml:LINE: ...`` (no server paths)."""
    from vidx.jobs.jobfile import load_job

    if len(text) > MAX_JOB_CHARS:
        raise OptionError(f"job.toml is {len(text)} characters, over the limit of {MAX_JOB_CHARS}")
    try:
        text.encode("utf-8")
        data = tomllib.loads(text)
    except UnicodeError:
        raise OptionError("job.toml is not valid text (UTF-8)") from None
    except (tomllib.TOMLDecodeError, RecursionError):
        data = {}  # load_job says where
    if (key := nul_key(data)) is not None:
        raise OptionError(f"job.toml: {key} holds a NUL character, which no value may")
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = Path(folder) / "job.toml"
        path.write_text(text, encoding="utf-8")
        try:
            job = load_job(path)
        except VidxError as exc:
            raise OptionError(str(exc).replace(str(path), "job.toml")) from None
        except RecursionError:
            raise OptionError("job.toml nests its tables or lists too deeply") from None
    try:
        capped(job.shared, cap)
    except OptionError as exc:  # spelled as the job file's key, as load_job spells its errors
        raise OptionError(f"job.toml: {exc.named('max_pixels')}") from None
    return job


def nul_key(data: Any, where: str = "") -> str | None:
    """The dotted key of the first string in ``data`` (a parsed TOML table) holding a NUL."""
    if isinstance(data, str):
        return (where or "a value") if "\x00" in data else None
    if isinstance(data, dict):
        pairs = [(f"{where}.{key}" if where else str(key), value) for key, value in data.items()]
    elif isinstance(data, list):
        pairs = [(where, value) for value in data]
    else:
        return None
    for name, value in pairs:
        if (found := nul_key(value, name)) is not None:
            return found
    return None
