"""Ray addresses (``--ray``, ``RAY_ADDRESS``): their grammar is an option value's, so it lives
in :mod:`vidx.values.ray_address`, below the options that check it; the scale layer reaches it
here too."""

from __future__ import annotations

from vidx.values.ray_address import ENV, Address, parse_address  # noqa: F401
