"""Variants job files (``vidx variants --job JOB.toml``): parse and validate before any work.

A job file has a ``[shared]`` table (settings every variant starts from, plus those that must
be shared: analysis and trimming) and one ``[variants.NAME]`` table per output::

    [shared]
    upscaler = "lanczos"
    strength = 0.8

    [variants.winter]
    style = 5

Every error names the key and its line: unknown keys, bad types, bad names, paths that leave
the job file's folder, duplicate names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from vidx.errors import OptionError

STR, INT, NUM, BOOL = (str,), (int,), (int, float), (bool,)
RESTYLE_KEYS: dict[str, tuple[type, ...]] = {
    "style": (str, int),
    "style_image": STR,
    "prompt": STR,
    "negative_prompt": STR,
    "model": STR,
    "strength": NUM,
    "steps": INT,
    "guidance": NUM,
    "scheduler": STR,
    "seed": INT,
    "work_size": INT,
    "temporal": BOOL,
    "temporal_weight": NUM,
    "color_anchor": BOOL,
    "latent_blend": BOOL,
    "warp_noise": BOOL,
    "pull": BOOL,
    "pull_steps": NUM,
    "cross_frame_attn": BOOL,
    "reuse_strength": NUM,
    "refine_strength": NUM,
    "allow_pickle": BOOL,
}
OUTPUT_KEYS: dict[str, tuple[type, ...]] = {
    "size": STR,
    "fit": STR,
    "upscaler": STR,
    "codec": STR,
    "crf": INT,
    "preset": STR,
    "pix_fmt": STR,
    "compare": STR,
    "tile": INT,
}
SHARED_ONLY_KEYS: dict[str, tuple[type, ...]] = {
    "keyframe_interval": INT,
    "scene_cuts": BOOL,
    "flow": STR,
    "flow_preset": STR,
    "analysis_size": INT,
    "raft_weights": STR,
    "start": NUM,
    "duration": NUM,
    "max_frames": INT,
    "device": STR,
    "dtype": STR,
}
PATH_KEYS = ("style_image", "model", "raft_weights")
VARIANT_KEYS = {**RESTYLE_KEYS, **OUTPUT_KEYS}
SHARED_KEYS = {**VARIANT_KEYS, **SHARED_ONLY_KEYS}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass
class Job:
    """A validated job: ``shared`` settings and, per variant name, its own settings (paths
    already resolved against the job file's folder)."""

    path: Path
    shared: dict[str, Any]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)

    def settings(self, name: str) -> dict[str, Any]:
        """Shared settings overlaid with variant ``name``'s own."""
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
    """Read and validate ``path``; raise OptionError naming the file, key and line."""
    path = Path(path)
    if not path.is_file():
        raise OptionError(f"--job {path}: no such file")
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
    shared = _check_table(data.get("shared", {}), SHARED_KEYS, "shared", where, path.parent)
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
        for key in table:
            if key in SHARED_ONLY_KEYS:
                raise OptionError(
                    f"{where(label, key)}: {key!r} can only be set in [shared] "
                    f"(it is computed once for all variants)"
                )
        variants[name] = _check_table(table, VARIANT_KEYS, label, where, path.parent)
    return Job(path, shared, variants)


def _check_table(
    table: Any, allowed: dict[str, tuple[type, ...]], label: str, where: Any, folder: Path
) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise OptionError(f"{where(label)}: [{label}] must be a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in allowed:
            raise OptionError(f"{where(label, key)}: unknown key {key!r} in [{label}]")
        types = allowed[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            names = " or ".join(t.__name__ for t in types)
            raise OptionError(f"{where(label, key)}: {key!r} must be {names}, got {value!r}")
        if key in PATH_KEYS and isinstance(value, str):
            value = _inside(value, key, folder, where(label, key))
        out[key] = str(value) if key == "style" else value
    return out


def _inside(value: str, key: str, folder: Path, place: str) -> str:
    """Resolve a path against the job folder; a path that leaves it is an error. A ``model``
    that does not look like a path (a hub id such as ``org/name``) is kept as it is."""
    looks_local = value.startswith((".", "/", "~")) or value.endswith(
        (".safetensors", ".ckpt", ".pth", ".pt", ".png", ".jpg", ".jpeg", ".webp")
    )
    candidate = (folder / value).resolve()
    if key == "model" and not looks_local and not candidate.exists():
        return value
    if not candidate.is_relative_to(folder.resolve()):
        raise OptionError(f"{place}: {key} {value!r} points outside the job file's folder")
    return str(candidate)
