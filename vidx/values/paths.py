"""Whether a path a user names is a regular file vidx can read, decided with ``os.stat`` only:
the file is never opened (opening a FIFO blocks until a writer appears, reading a device never
ends). :mod:`vidx.io.inputs` and :mod:`vidx.weights` refuse with it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def file_problem(path: Path, allow_device: bool = False) -> str | None:
    """Why ``path`` is not a regular file vidx can read, as a phrase; None when it is fine.

    Symbolic links are followed (a link to a regular file is fine). Decided with ``os.stat``
    only; the file is never opened.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            return "is a broken symbolic link"
        return "does not exist"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as exc:  # ENAMETOOLONG, ELOOP, ENOTDIR, ...
        return f"cannot be read ({exc.strerror or exc})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            return "cannot be read (permission denied)"
        return "is empty" if st.st_size == 0 else None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and allow_device:
        return None
    kinds = {
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    return f"is {kind}, not a regular file; save it to a file first"
