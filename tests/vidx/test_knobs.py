"""Every knob is declared once (issue 24, item 1): in an option group of ``vidx/options.py``,
from which the CLI, job files, the API, the sidecar and the resume manifest derive it.

A second declaration is a dataclass field anywhere in ``vidx/`` that takes an option's name and
gives it a default: the option's own default again (a value written twice drifts), or several
such fields in one class (a copy of a group, as ``DiffusionOptions`` was). Fields that share a
name without a default of their own (``FrameContext.flow``: the frame's flow field, not the
``--flow`` method) are homonyms and pass.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import importlib
from pathlib import Path

from vidx.options import OptionGroup, all_options, default_of

ROOT = Path(__file__).resolve().parents[2]
COPY = 3  # this many option-named fields with defaults in one dataclass make it a copy

# Second declarations that are known and owned by other parts of issue 24 (the io layer sits
# below vidx.options, which imports it, so its parameter objects keep their own defaults until
# the job package hands them theirs). Each entry is one class; the test fails when one goes
# away (remove it here) or a new one appears.
KNOWN = {
    "vidx.io.reader:Trim": "the reader's trim, built from TrimOptions (io is below options)",
    "vidx.values.encode:EncodeSettings": "the writer's settings, built from EncodeOptions (ditto)",
    "vidx.io.image_sequence:Sequence": "max_pixels, the sequence reader's own limit (ditto)",
    "vidx.pipeline:Output": "fit, compare, exr, temporal: per output, from its options",
    "vidx.pipeline:JobContext": "deinterlace, threads: the job's values handed to every runner",
}


# Fields that share an option's name and mean something else.
HOMONYMS = {
    "vidx.options:Opt": "resume: whether an option is in the resume manifest, not --resume",
}


def option_groups() -> list[type[OptionGroup]]:
    out, todo = [], list(OptionGroup.__subclasses__())
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo += cls.__subclasses__()
    return out


def knobs_declared_again(cls: type) -> list[str]:
    """The fields of dataclass ``cls`` that declare an option again: its name with the option's
    own (not None) default, or, when ``COPY`` or more of its fields take an option's name with
    a default, all of those."""
    options = all_options()
    named = [
        f
        for f in dataclasses.fields(cls)
        if f.name in options
        and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
    ]
    same = [
        f.name
        for f in named
        if default_of(f) is not None and default_of(f) == default_of(options[f.name][1])
    ]
    return sorted({f.name for f in named}) if len(named) >= COPY else sorted(same)


def dataclasses_in_vidx() -> dict[str, type]:
    """``{module:Class: class}`` of every dataclass in vidx/ but the option groups (found in
    the source: the modules are imported only where one is)."""
    out = {}
    for path in sorted((ROOT / "vidx").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                "dataclass" in ast.unparse(d) for d in node.decorator_list
            ):
                cls = getattr(importlib.import_module(module), node.name, None)
                if cls is not None and not issubclass(cls, OptionGroup):
                    out[f"{module}:{node.name}"] = cls
    return out


def test_each_option_is_declared_in_one_group() -> None:
    count = collections.Counter(f.name for g in option_groups() for f in g.options())
    assert [name for name, n in count.items() if n > 1] == []


def test_no_dataclass_declares_a_knob_again() -> None:
    classes = dataclasses_in_vidx()
    assert len(classes) > 30  # the walk finds them (frames, plans, states, settings ...)
    found = {where: knobs_declared_again(cls) for where, cls in classes.items()}
    found = {where: names for where, names in found.items() if names}
    assert sorted(set(found) - set(KNOWN) - set(HOMONYMS)) == [], found
    assert sorted(set(KNOWN) - set(found)) == [], "a known second declaration went: drop it"


def test_a_copy_of_a_group_or_a_default_written_again_is_found() -> None:
    copy = dataclasses.make_dataclass(
        "Copy", [("strength", float, 0.5), ("steps", int, 20), ("reuse_open", float, 1.0)]
    )
    assert knobs_declared_again(copy) == ["reuse_open", "steps", "strength"]
    again = dataclasses.make_dataclass("Again", [("steps", int, 20), ("seed", int, 1)])
    assert knobs_declared_again(again) == ["steps"]
    homonym = dataclasses.make_dataclass("Homonym", [("mask", object), ("flow", object, None)])
    assert knobs_declared_again(homonym) == []
