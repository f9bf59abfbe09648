"""Output names within the file system's limits, checked before anything is written.

A file name (one path component) may be at most ``NAME_MAX`` bytes and a whole path at most
``PATH_MAX - 1`` (the C string's terminating NUL takes the last byte). vidx writes beside each
output files whose names add to the output's (``OUT.parts/``, ``.OUT.vidx-lock``,
``OUT.json.part``, ``OUT.compare.EXT.part``), so an output name a few bytes under the limit
still fails, half-way through a job; :func:`check_lengths` checks every one of them up front.

Convention: lengths are in bytes of the file-system encoding (``os.fsencode``), not characters,
and paths are measured absolute (vidx hands absolute paths to workers and libraries).
"""

from __future__ import annotations

import os
from pathlib import Path

from vidx.errors import OptionError

NAME_MAX = 255  # bytes in one file name (ext4, XFS, Btrfs, APFS)
PATH_MAX = 4096  # bytes in a path, its terminating NUL included (Linux)
SHOWN = 60  # characters of an over-long name a message shows


def check_lengths(paths: dict[str, Path], param: str = "output") -> None:
    """OptionError naming ``param`` when a path in ``paths`` (what it is -> path, the output
    the user named first) has a name over ``NAME_MAX`` bytes or is, made absolute, longer than
    ``PATH_MAX - 1`` bytes; the message names the longest."""
    shown = short(str(next(iter(paths.values()))))
    full = {what: os.path.abspath(path) for what, path in paths.items()}
    for folder in Path(full["output"]).parts[:-1]:
        if len(os.fsencode(folder)) > NAME_MAX:
            raise OptionError(
                f"{shown}: the folder name {short(folder)} is too long: "
                f"{len(os.fsencode(folder))} bytes, over the file system's limit of {NAME_MAX}",
                param=param,
            )
    names = {what: len(os.fsencode(Path(path).name)) for what, path in full.items()}
    what = max(names, key=names.__getitem__)
    if names[what] > NAME_MAX:
        its = "" if what == "output" else f"its {what} {short(Path(full[what]).name)} would be "
        raise OptionError(
            f"{shown}: the name is too long: {its}{names[what]} bytes, over the file system's "
            f"limit of {NAME_MAX}; choose one {names[what] - NAME_MAX} bytes shorter",
            param=param,
        )
    sizes = {what: len(os.fsencode(path)) for what, path in full.items()}
    what = max(sizes, key=sizes.__getitem__)
    if sizes[what] >= PATH_MAX:
        its = "" if what == "output" else f"its {what} would be "
        raise OptionError(
            f"{shown}: the path is too long: {its}{sizes[what]} bytes, over the limit of "
            f"{PATH_MAX - 1}; choose one {sizes[what] - PATH_MAX + 1} bytes shorter",
            param=param,
        )


def short(text: str) -> str:
    """``text`` cut to about ``SHOWN`` characters for a one-line message (its end kept)."""
    if len(text) <= SHOWN:
        return text
    return f"{text[: SHOWN // 2]}...{text[-(SHOWN // 2 - 3) :]}"
