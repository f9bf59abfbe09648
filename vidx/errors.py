"""Exceptions a user can cause. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations


class VidxError(Exception):
    """Base of every error vidx raises on purpose (bad input, missing model, bad option)."""


class InputError(VidxError, ValueError):
    """The input file cannot be read as a video (or image), or has nothing to process."""


class OptionError(VidxError, ValueError):
    """An option value is out of range or malformed; the message names the option and the value."""


class OutputError(VidxError, OSError):
    """The output cannot be written (same as the input, exists without --overwrite, disk full)."""


class ModelError(VidxError, ValueError):
    """A model cannot be found, loaded or used (unsupported file, pickle without --allow-pickle)."""
