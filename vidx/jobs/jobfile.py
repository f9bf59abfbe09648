"""Variants job files (``vidx variants --job JOB.toml``): parse and validate before any work.

A job file has a ``[shared]`` table (options every variant starts from, plus those that must be
shared: analysis, trimming, device) and one ``[variants.NAME]`` table per output::

    [shared]
    upscaler = "lanczos"
    strength = 0.8

    [variants.winter]
    style = 5

The keys are the option names of :mod:`vidx.options` (those marked for job files; a job file
can never allow pickled weights, only the command line can). Every error names the key and its
line: unknown keys, bad types or values, bad names, duplicate names, and paths that leave the
job file's folder (``..``, absolute paths, symlinks pointing out). Relative paths resolve
against the job file's folder, not the working directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidx.errors import OptionError
from vidx.options import LORA_WEIGHT, JobOptions, Opt, all_options, check_type
from vidx.restyle.diffusion.builtin import REGISTRY as DIFFUSION_MODELS
from vidx.upscale.registry import NAMES as UPSCALERS

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def job_keys(*, shared: bool) -> dict[str, Opt]:
    """The keys a ``[shared]`` (``shared``) or ``[variants.NAME]`` table accepts."""
    return {
        name: Opt.of(f)
        for name, (_, f) in all_options().items()
        if Opt.of(f).job and (shared or not Opt.of(f).shared_only)
    }


def path_key(name: str) -> bool:
    return name == "upscaler" or Opt.of(all_options()[name][1]).path


@dataclass
class Job:
    """A validated job: ``shared`` options and, per variant name, its own (paths already
    resolved against the job file's folder)."""

    path: Path
    shared: dict[str, Any]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)

    def settings(self, name: str) -> dict[str, Any]:
        """Shared options overlaid with variant ``name``'s own."""
        return {**self.shared, **self.variants[name]}


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """(table, key) -> line number, for messages (tables by their dotted header)."""
    lines: dict[tuple[str, str], int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if m := re.fullmatch(r"\[\s*([^\[\]]+?)\s*\](\s*#.*)?", stripped):
            table = re.sub(r"\s*\.\s*", ".", m.group(1)).replace('"', "")
            lines.setdefault((table, ""), number)
        elif m := re.match(r"([A-Za-z0-9_\-\"']+)\s*=", stripped):
            lines.setdefault((table, m.group(1).strip("\"'")), number)
    return lines


def load_job(path: str | Path) -> Job:
    """Read and validate ``path``; raise OptionError naming the file, key and line (and one
    for a file nested too deeply or too large to read: Python's parser recurses)."""
    try:
        return _load(Path(path))
    except RecursionError:
        raise OptionError(f"{path}: not a valid job file: nested too deeply") from None
    except MemoryError:
        raise OptionError(f"{path}: not a valid job file: too large to read") from None


def _load(path: Path) -> Job:
    if not os.path.isfile(path):  # (False, not OSError, for a name too long to look up)
        raise OptionError(f"{path}: no such file", param="job")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OptionError(f"{path}: not a valid job file: {exc}") from None
    lines = _key_lines(text)

    def where(table: str, key: str = "") -> str:
        line = lines.get((table, key)) or lines.get((table, ""))
        return f"{path}:{line}" if line else str(path)

    for key in data:
        if key not in ("shared", "variants"):
            raise OptionError(
                f"{where('', key)}: unknown table or key {key!r} "
                f"(a job has [shared] and [variants.NAME] tables)"
            )
    shared = _check_table(data.get("shared", {}), "shared", where, path.parent)
    variants_raw = data.get("variants", {})
    if not isinstance(variants_raw, dict) or not variants_raw:
        raise OptionError(f"{where('variants')}: the job has no [variants.NAME] tables")
    variants: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for name, table in variants_raw.items():
        label = f"variants.{name}"
        if not isinstance(table, dict):
            raise OptionError(f"{where('variants', name)}: variant {name!r} must be a table")
        if not NAME.fullmatch(name):
            raise OptionError(
                f"{where(label)}: variant name {name!r} must be letters, digits, "
                f"'-' or '_' (it names the output file)"
            )
        if name.lower() in seen:
            raise OptionError(
                f"{where(label)}: duplicate variant name {name!r} "
                f"(same file name as {seen[name.lower()]!r})"
            )
        seen[name.lower()] = name
        variants[name] = _check_table(table, label, where, path.parent)
        try:  # the values, on the combined options (a prompt in one table, its model in another)
            JobOptions.from_flat({**shared, **variants[name]})
        except OptionError as exc:
            key = exc.param or ""
            table_of = label if key in variants[name] else "shared"
            raise OptionError(f"{where(table_of, key)}: {exc.named(key)}") from None
    return Job(path, shared, variants)


def _check_table(table: Any, label: str, where: Any, folder: Path) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise OptionError(f"{where(label)}: [{label}] must be a table")
    shared = label == "shared"
    allowed = job_keys(shared=shared)
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in allowed:
            everywhere = job_keys(shared=True)
            if not shared and key in everywhere:
                why = "can only be set in [shared] (it is computed once for all variants)"
            elif key in all_options():
                why = "can only be given on the command line"
            else:
                why = f"is not a key of [{label}]"
            raise OptionError(f"{where(label, key)}: {key!r} {why}")
        try:
            check_type(all_options()[key][0], key, value)
        except OptionError as exc:
            raise OptionError(f"{where(label, key)}: {exc.named(key)}") from None
        if path_key(key) and isinstance(value, str):
            value = _inside(value, key, folder, where(label, key))
        elif key == "lora":  # PATH[:WEIGHT] items: the path resolves, the weight stays
            value = [_inside_lora(v, folder, where(label, key)) for v in value]
        out[key] = value
    return out


def _inside_lora(value: str, folder: Path, place: str) -> str:
    m = LORA_WEIGHT.match(value.strip())
    path, weight = (m["path"], f":{m['weight']}") if m else (value.strip(), "")
    return _inside(path, "lora", folder, place) + weight


def _inside(value: str, key: str, folder: Path, place: str) -> str:
    """Resolve a path against the job folder; one that leaves it (``..``, absolute, ``~``, a
    symlink pointing out) is an error. A built-in upscaler or diffusion model name, or a
    ``model`` written as a hub id (``org/name``) with no such local path, is kept as it is (a
    ``controlnet`` too)."""
    if (key == "upscaler" and value in UPSCALERS) or (key == "model" and value in DIFFUSION_MODELS):
        return value
    local = folder / value
    hub_ok = key in ("model", "controlnet")
    if hub_ok and HUB_ID.fullmatch(value) and not local.exists() and ".." not in value:
        return value
    parts = Path(value).parts
    if Path(value).is_absolute() or value.startswith("~") or ".." in parts:
        raise OptionError(
            f"{place}: {key} {value!r} must be a path inside the job file's folder "
            "(relative, without '..')"
        )
    real = Path(os.path.realpath(local))
    if not real.is_relative_to(os.path.realpath(folder)):
        raise OptionError(f"{place}: {key} {value!r} points outside the job file's folder")
    return str(local.absolute())
