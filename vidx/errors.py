"""Exceptions a user can cause. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations


class VidxError(Exception):
    """Base of every error vidx raises on purpose (bad input, missing model, bad option)."""


class InputError(VidxError, ValueError):
    """The input file cannot be read as a video (or image), or has nothing to process."""


class OptionError(VidxError, ValueError):
    """An option value is out of range or malformed.

    ``param`` names the option as the library knows it (``fit``, ``start``); the message reads
    ``"<param> <detail>"``. Each face renders the name its own way: the CLI as its flag
    (``--fit``), a job file as its key and line.
    """

    def __init__(self, detail: str, *, param: str | None = None) -> None:
        self.param = param
        self.detail = detail
        super().__init__(f"{param} {detail}" if param else detail)

    def named(self, name: str) -> str:
        """The message with the parameter spelled ``name`` (a flag, a job-file key)."""
        return f"{name} {self.detail}" if self.param else self.detail


class OutputError(VidxError, OSError):
    """The output cannot be written (same as the input, exists without --overwrite, disk full)."""


class ModelError(VidxError, ValueError):
    """A model cannot be found, loaded or used (unsupported file, pickle without --allow-pickle)."""
