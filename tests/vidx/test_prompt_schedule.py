"""The prompt schedule parser and its frame arithmetic (pure: no model)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vidx.errors import OptionError
from vidx.options import RestyleOptions
from vidx.values.prompt_schedule import (
    Key,
    in_frames,
    parse_key,
    parse_schedule,
    parse_transition,
    prompt_at,
    resolve,
    transition_frames,
)


def test_keys_in_frames_seconds_and_timecodes() -> None:
    assert parse_key("12") == (12.0, False)
    assert parse_key("12f") == (12.0, False)
    assert parse_key("4s") == (4.0, True)
    assert parse_key("1.5 s") == (1.5, True)
    assert parse_key("1:30") == (90.0, True)
    assert parse_key("1:00:02.5") == (3602.5, True)
    with pytest.raises(OptionError, match="key '1:75'"):
        parse_key("1:75")


def test_parse_schedule_entries() -> None:
    keys = parse_schedule("0:snowy street; 4s:spring street; 96: summer street, at dusk")
    assert keys == (
        Key(0.0, False, "snowy street"),
        Key(4.0, True, "spring street"),
        Key(96.0, False, "summer street, at dusk"),
    )
    assert parse_schedule("0:a\n0:30: b")[1] == Key(30.0, True, "b")  # a timecode key


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty schedule"),
        (" ; ", "got none"),
        ("snowy street", "must read KEY: prompt"),
        ("0:", "has no prompt"),
        ("0:a; 0:b", "appears twice"),
        ("x:a", "must read KEY: prompt"),
    ],
)
def test_parse_schedule_errors_name_the_option(text: str, needle: str) -> None:
    with pytest.raises(OptionError, match=needle) as info:
        parse_schedule(text)
    assert info.value.param == "prompt_schedule"


def test_resolve_sorts_converts_and_fills_frame_zero() -> None:
    keys = parse_schedule("96:summer; 0:snow; 3s:spring")
    assert resolve(keys, Fraction(24)) == [(0, "snow"), (72, "spring"), (96, "summer")]
    with pytest.raises(OptionError, match="two keys on frame 96"):
        resolve(keys, 32)
    assert resolve(parse_schedule("0:a; 2s:b"), 25) == [(0, "a"), (50, "b")]
    assert resolve(parse_schedule("10:b"), None, first="a") == [(0, "a"), (10, "b")]
    with pytest.raises(OptionError, match="frame rate is unknown"):
        resolve(parse_schedule("0:a; 2s:b"), None)
    with pytest.raises(OptionError, match="add a key 0 or give --prompt"):
        resolve(parse_schedule("10:b"), 24)
    with pytest.raises(OptionError, match="give one of them"):
        resolve(parse_schedule("0:b"), 24, first="a")


def test_transition_frames_or_seconds() -> None:
    assert parse_transition("12") == (12.0, False)
    assert parse_transition(6) == (6.0, False)
    assert transition_frames("0.5s", 24) == 12
    with pytest.raises(OptionError, match="prompt_transition must be frames"):
        parse_transition("soon")
    with pytest.raises(OptionError, match="prompt_transition"):
        parse_transition(-1)


def test_prompt_at_blends_after_each_key() -> None:
    keys = [(0, "a"), (12, "b")]
    assert [prompt_at(f, keys, 4) for f in (0, 11)] == [("a", "a", 1.0)] * 2
    assert [prompt_at(f, keys, 4)[2] for f in (12, 13, 14, 15, 16)] == [0.25, 0.5, 0.75, 1, 1]
    assert prompt_at(12, keys, 4)[:2] == ("a", "b")
    assert prompt_at(12, keys, 0) == ("b", "b", 1.0)  # a cut


def test_in_frames_rewrites_seconds() -> None:
    assert in_frames("0:a; 0.5s:b", "0.25s", 24, None) == ("0: a; 12: b", "6")
    assert in_frames("12:b", "4", 24, "a") == ("12: b", "4")


def test_schedule_options_select_diffusion_and_check_early() -> None:
    spec = RestyleOptions(prompt_schedule="0:a; 12:b", model="m")
    assert spec.backend == "diffusion" and spec.active
    with pytest.raises(OptionError, match="model"):
        RestyleOptions(prompt_schedule="0:a; 12:b")
    with pytest.raises(OptionError, match="add a key 0"):
        RestyleOptions(prompt_schedule="12:b", model="m")
    with pytest.raises(OptionError, match="prompt_interpolation"):
        RestyleOptions(prompt_schedule="0:a", model="m", prompt_interpolation="cubic")
