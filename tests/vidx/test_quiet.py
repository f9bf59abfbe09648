"""Library chatter stays off stderr: warnings become short deduplicated lines, logs drop."""

from __future__ import annotations

import logging
import os
import threading
import warnings

import pytest

from vidx.quiet import quiet_libraries, warning_line


def _library_logger(name: str) -> tuple[logging.Logger, list[str]]:
    """A logger configured the way diffusers configures its own (own handler, no propagate)."""
    records: list[str] = []
    logger = logging.getLogger(name)
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    return logger, records


def test_warnings_are_collected_once_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with quiet_libraries(verbose=False) as notes:
        for _ in range(3):
            warnings.warn(
                "TypedStorage is deprecated.\nIt will be removed.", UserWarning, stacklevel=1
            )
        warnings.warn("`resume_download` is deprecated", FutureWarning, stacklevel=1)
        thread = threading.Thread(
            target=lambda: warnings.warn("from a thread", RuntimeWarning, stacklevel=1)
        )
        thread.start()
        thread.join()
    assert notes == [
        "UserWarning: TypedStorage is deprecated.",
        "FutureWarning: `resume_download` is deprecated",
        "RuntimeWarning: from a thread",
    ]
    assert capsys.readouterr().err == ""


def test_library_logs_are_cut_to_errors_and_restored() -> None:
    parent, records = _library_logger("diffusers")
    child = logging.getLogger("diffusers.models.modeling_utils")
    try:
        with quiet_libraries(False):
            child.warning("Defaulting to unsafe serialization. Pass `allow_pickle=False` ...")
            child.error("a real error")
            assert os.environ["DIFFUSERS_VERBOSITY"] == "error"  # for a first import inside
        assert records == ["a real error"]
        assert parent.level == logging.WARNING and "DIFFUSERS_VERBOSITY" not in os.environ
        child.warning("after")
        assert records[-1] == "after"
    finally:
        parent.handlers.clear()
        parent.propagate = True
        parent.setLevel(logging.NOTSET)


def test_users_verbosity_variable_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    logger = logging.getLogger("transformers")
    monkeypatch.setattr(logger, "level", logging.INFO)
    with quiet_libraries(False):
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info" and logger.level == logging.INFO
        assert logging.getLogger("huggingface_hub").getEffectiveLevel() == logging.ERROR


def test_verbose_changes_nothing(recwarn: pytest.WarningsRecorder) -> None:
    before = warnings.showwarning
    with quiet_libraries(verbose=True) as notes:
        assert warnings.showwarning is before and "HF_HUB_VERBOSITY" not in os.environ
        warnings.warn("shown in full", UserWarning, stacklevel=1)
    assert notes == [] and [str(w.message) for w in recwarn] == ["shown in full"]


def test_filters_still_apply() -> None:
    with quiet_libraries(False) as notes:
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.warn("old", DeprecationWarning, stacklevel=1)
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(ResourceWarning):
            warnings.warn("leak", ResourceWarning, stacklevel=1)
    assert notes == []


def test_warning_line_is_short() -> None:
    line = warning_line("x" * 500, UserWarning)
    assert len(line) == 160 and line.endswith("...")
    assert warning_line("", UserWarning) == "UserWarning"
    assert warning_line(RuntimeWarning("a\nb"), RuntimeWarning) == "RuntimeWarning: a"
