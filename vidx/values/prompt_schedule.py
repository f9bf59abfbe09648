"""Deforum-style prompt schedules: ``"0:snowy street; 4s:spring street; 96:summer street"``.

Pure text and arithmetic (no torch), so the option checks can parse a schedule before any model
loads. A key is a frame (``12`` or ``12f``), seconds (``4s``, ``1.5s``) or a timecode
(``MM:SS[.ms]`` or ``HH:MM:SS[.ms]``), counted from the first frame written (after ``--start``).

Convention: a change at key frame ``k`` with a transition of ``n`` frames blends the previous
prompt's embedding toward the new one over frames ``k .. k+n-1`` (weight ``(f - k + 1) / n``):
every frame before a key shows the earlier prompt exactly, as a run with that prompt alone does.

Parsing and resolving take time in proportion to the schedule's length (a set finds a repeated
key), and a schedule is refused beyond :data:`MAX_ENTRIES` entries or :data:`MAX_CHARS`
characters, so checking one costs milliseconds whatever a job file or the web form sends.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from vidx.errors import OptionError

# seconds first, then a timecode, then frames: "1:30: x" is 90 s, "12: x" is frame 12
ENTRY = re.compile(
    r"^\s*(?P<key>\d+(?:\.\d+)?\s*s|(?:\d+:)?\d{1,2}:\d{1,2}(?:\.\d+)?|\d+\s*f?)\s*:\s*(?P<text>.*)$",
    re.S,
)
INTERPOLATIONS = ("linear", "slerp")
P, T = "prompt_schedule", "prompt_transition"  # the options, as errors name them
MAX_ENTRIES = 10_000  # KEY: prompt entries in one schedule
MAX_CHARS = 1_000_000  # characters in one schedule (1 MB of plain text)
MAX_KEY_CHARS = 32  # a key or a transition longer than this is no number vidx takes
MAX_TRANSITION_FRAMES = 100_000
MAX_TRANSITION_SECONDS = 3600.0


@dataclass(frozen=True)
class Key:
    """One schedule entry: ``at`` is a frame (``seconds`` False) or a time in seconds."""

    at: float
    seconds: bool
    prompt: str


def parse_key(text: str, param: str = "prompt_schedule") -> tuple[float, bool]:
    """``"12"``/``"12f"`` -> ``(12, False)``; ``"4s"`` -> ``(4.0, True)``; ``"1:30"`` -> 90 s."""
    t = text.strip().lower().replace(" ", "")[: MAX_KEY_CHARS + 1]
    if len(t) > MAX_KEY_CHARS:
        raise OptionError(f"key {text[:MAX_KEY_CHARS]!r}... is too long", param=param)
    if re.fullmatch(r"\d+f?", t):
        return float(int(t.rstrip("f"))), False
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)s", t):
        return float(m[1]), True
    if m := re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)", t):
        hours, minutes, secs = int(m[1] or 0), int(m[2]), float(m[3])
        if minutes < 60 and secs < 60:
            return (hours * 60 + minutes) * 60 + secs, True
    raise OptionError(
        f"key {text!r} must be a frame (12), seconds (4s) or a timecode (MM:SS)", param=param
    )


def parse_schedule(text: str) -> tuple[Key, ...]:
    """Split ``"KEY: prompt; KEY: prompt"`` (``;`` or new lines) into keys, checked.

    Raises:
        OptionError: empty schedule, over :data:`MAX_CHARS` characters or :data:`MAX_ENTRIES`
            entries, an entry without ``KEY:``, an empty prompt, a bad key, or the same key
            twice (``param="prompt_schedule"``).
    """
    if not isinstance(text, str) or not text.strip():
        raise OptionError("must list KEY: prompt entries, got an empty schedule", param=P)
    if len(text) > MAX_CHARS:
        raise OptionError(f"is {len(text)} characters, over the limit of {MAX_CHARS}", param=P)
    entries = [entry for entry in re.split(r"[;\n]", text) if entry.strip()]
    if len(entries) > MAX_ENTRIES:
        raise OptionError(f"has {len(entries)} entries, over the limit of {MAX_ENTRIES}", param=P)
    keys: list[Key] = []
    seen: set[tuple[float, bool]] = set()
    for entry in entries:
        m = ENTRY.match(entry)
        if m is None:
            raise OptionError(f"entry {entry.strip()!r} must read KEY: prompt", param=P)
        prompt = m["text"].strip()
        if not prompt:
            raise OptionError(f"entry {entry.strip()!r} has no prompt", param=P)
        at, seconds = parse_key(m["key"])
        if (at, seconds) in seen:
            raise OptionError(f"key {m['key'].strip()!r} appears twice", param=P)
        seen.add((at, seconds))
        keys.append(Key(at, seconds, prompt))
    if not keys:
        raise OptionError("must list KEY: prompt entries, got none", param=P)
    return tuple(keys)


def parse_transition(value: str | int | float) -> tuple[float, bool]:
    """``--prompt-transition``: frames (``12``, ``12f``; at most :data:`MAX_TRANSITION_FRAMES`)
    or seconds (``0.5s``; at most :data:`MAX_TRANSITION_SECONDS`) -> ``(n, seconds)``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        ok = math.isfinite(value) and 0 <= value <= MAX_TRANSITION_FRAMES
        if not ok or value != int(value):
            raise OptionError(
                f"must be a whole number of frames from 0 to {MAX_TRANSITION_FRAMES}, "
                f"got {value!r}",
                param=T,
            )
        return float(value), False
    t = str(value).strip().lower().replace(" ", "")[: MAX_KEY_CHARS + 1]
    if len(t) <= MAX_KEY_CHARS and re.fullmatch(r"\d+f?", t):
        frames = int(t.rstrip("f"))
        if frames <= MAX_TRANSITION_FRAMES:
            return float(frames), False
    elif len(t) <= MAX_KEY_CHARS and (m := re.fullmatch(r"(\d+(?:\.\d+)?)s", t)):
        if float(m[1]) <= MAX_TRANSITION_SECONDS:
            return float(m[1]), True
    raise OptionError(
        f"must be frames (12, at most {MAX_TRANSITION_FRAMES}) or seconds (0.5s, at most "
        f"{MAX_TRANSITION_SECONDS:g}s), got {str(value)[:MAX_KEY_CHARS]!r}",
        param=T,
    )


def resolve(
    keys: tuple[Key, ...], rate: Fraction | float | None, first: str | None = None
) -> list[tuple[int, str]]:
    """The keys as ``[(frame, prompt)]`` sorted by frame, seconds times ``rate`` (frames/s).

    ``first`` (the plain ``--prompt``) holds from frame 0 when the schedule starts later.

    Raises:
        OptionError: a key in seconds and no known ``rate``; two keys on one frame; no prompt
            at frame 0 (the schedule starts later and ``first`` is None); a key 0 and ``first``.
    """
    out: list[tuple[int, str]] = []
    frames: set[int] = set()
    for k in keys:
        if k.seconds and not rate:
            raise OptionError("has keys in seconds but the frame rate is unknown", param=P)
        frame = round(k.at * float(rate)) if k.seconds else int(k.at)  # type: ignore[arg-type]
        if frame in frames:
            raise OptionError(f"has two keys on frame {frame}", param=P)
        frames.add(frame)
        out.append((frame, k.prompt))
    out.sort()
    if out[0][0] > 0:
        if first is None:
            raise OptionError(
                f"starts at frame {out[0][0]}; add a key 0 or give --prompt for the frames "
                "before it",
                param=P,
            )
        out.insert(0, (0, first))
    elif first is not None:
        raise OptionError("has a key 0 and --prompt is given too; give one of them", param=P)
    return out


def transition_frames(value: str | int | float, rate: Fraction | float | None) -> int:
    n, seconds = parse_transition(value)
    if seconds and not rate:
        raise OptionError("is in seconds but the frame rate is unknown", param=T)
    return round(n * float(rate)) if seconds else int(n)  # type: ignore[arg-type]


def prompt_at(frame: int, keys: list[tuple[int, str]], transition: int) -> tuple[str, str, float]:
    """``(from_prompt, to_prompt, weight of to_prompt)`` at ``frame`` (see the module doc).

    ``keys`` is :func:`resolve`'s list; weight 1 means ``to_prompt`` alone.
    """
    if not keys or keys[0][0] != 0:
        raise ValueError("prompt_at needs resolved keys starting at frame 0")
    i = bisect.bisect_right(keys, max(frame, 0), key=lambda k: k[0]) - 1
    start, to = keys[i]
    if i == 0 or transition <= 1:
        return to, to, 1.0
    w = min(1.0, (frame - start + 1) / transition)
    return keys[i - 1][1], to, w


def in_frames(
    schedule: str, transition: str | int, rate: Fraction | float | None, first: str | None
) -> tuple[str, str]:
    """The schedule and transition with every time in frames at ``rate`` (the job's plan does
    this once, so every later stage counts frames): ``("0: a; 96: b", "12")``."""
    keys = resolve(parse_schedule(schedule), rate, first)
    if first is not None:
        keys = keys[1:]  # --prompt stays the prompt before the first key
    text = "; ".join(f"{frame}: {prompt}" for frame, prompt in keys)
    return text, str(transition_frames(transition, rate))
