"""A restyler's temporal state as bytes: what one segment hands the next (issue 15).

A diffusion segment that starts where the one before it stopped must look as if one process
had rendered both: the previous latent, the noise and its flow field, the anchors and patches
of the propagation, the random generators. Rather than a hand-written list of fields per class
(which every new field would silently break), :func:`dumps` pickles the whole object graph of
the state holders (restylers, the analyzer) **except the models**: every object that is not
plain data (a ``torch.nn.Module``, a diffusers pipeline or scheduler, a tokenizer, an ONNX
session) is written as the path at which it is reached (``.engine.pipe``), and :func:`loads`
links that path to the same object in ``like``, the freshly built holders of the worker that
takes the segment over. So the models are never pickled and load once per worker, and the
state is exact: tensors and arrays go as their bytes, generators as their state.

Plain data is: numbers, strings, containers, NumPy arrays, torch tensors (as NumPy arrays with
their dtype and device) and generators, and instances of classes defined in ``vidx`` or
``temporal``. :func:`loads` unpickles with an allow-list (those classes, NumPy's array
rebuilders, a few builtins), so a state file edited by someone else cannot run code.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from vidx.errors import VidxError

PROTOCOL = 5
OURS = ("vidx", "temporal")  # packages whose classes are state, not models
PLAIN = (str, bytes, bytearray, int, float, bool, complex, type(None), Fraction, np.ndarray)
SAFE_BUILTINS = {
    "set", "frozenset", "slice", "range", "complex", "bytearray", "tuple", "list", "dict",
}  # fmt: skip
SAFE_NUMPY = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
}


class StateError(VidxError):
    """A state cannot be written (it holds something that is neither data nor a model) or
    read back (damaged, from another vidx, or built for other models)."""


def _root(cls: type) -> str:
    return cls.__module__.split(".", 1)[0]


def _ours(obj: object) -> bool:
    """An instance of a vidx or temporal class (state, walked into)."""
    return not isinstance(obj, type) and _root(type(obj)) in OURS


def _kept(obj: object) -> bool:
    """Whether ``obj`` stays where it is (a model, a session) and is written as its path."""
    if isinstance(obj, PLAIN) or isinstance(obj, dict | list | tuple | set | frozenset):
        return False
    cls = type(obj)
    if isinstance(obj, type) or cls.__module__ in ("builtins", "fractions", "collections"):
        return False  # a class, a function, a builtin: pickled by name
    if _root(cls) == "numpy":
        return False  # scalars, dtypes, random generators
    if _root(cls) == "torch":
        import torch

        return not isinstance(obj, torch.Tensor | torch.Generator | torch.dtype | torch.device)
    return not _ours(obj)


def _walk(obj: object, path: str, seen: set[int]) -> Iterator[tuple[str, object]]:
    """``(path, object)`` of every kept object reachable from ``obj``, first path first."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if _kept(obj):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}[{k!r}]", seen)
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]", seen)
    elif _ours(obj) and hasattr(obj, "__dict__"):
        for k, v in vars(obj).items():
            yield from _walk(v, f"{path}.{k}", seen)


def kept_objects(root: object) -> dict[str, object]:
    """The models (and other kept objects) of ``root`` by the path they are first reached at."""
    return dict(_walk(root, "", set()))


def _tensor(array: np.ndarray, dtype: str, device: str, grad: bool) -> Any:
    import torch

    t = torch.from_numpy(array.copy())
    if dtype == "torch.bfloat16":  # NumPy has no bfloat16: it travelled as its bits
        t = t.view(torch.bfloat16)
    return t.to(device).requires_grad_(grad)


def _generator(device: str, state: np.ndarray) -> Any:
    import torch

    g = torch.Generator(device=device)
    g.set_state(torch.from_numpy(state.copy()))
    return g


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, kept: dict[int, str]) -> None:
        super().__init__(file, protocol=PROTOCOL)
        self.kept = kept

    def persistent_id(self, obj: Any) -> str | None:
        return self.kept.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        root = _root(type(obj))
        if root != "torch":
            return NotImplemented
        import torch

        if isinstance(obj, torch.Generator):
            return _generator, (str(obj.device), obj.get_state().numpy())
        if isinstance(obj, torch.Tensor):
            t = obj.detach().cpu()
            array = t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()
            return _tensor, (array, str(obj.dtype), str(obj.device), obj.requires_grad)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, kept: dict[str, object]) -> None:
        super().__init__(file)
        self.kept = kept

    def persistent_load(self, pid: Any) -> object:
        if pid not in self.kept:
            raise StateError(f"the state refers to {pid}, which the models here do not have")
        return self.kept[pid]

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name in ("_tensor", "_generator"):
            return globals()[name]
        if (module == "builtins" and name in SAFE_BUILTINS) or (module, name) in SAFE_NUMPY:
            return super().find_class(module, name)
        if (module, name) in (("fractions", "Fraction"), ("collections", "OrderedDict")):
            return super().find_class(module, name)
        if module == "torch" and name.startswith(("float", "bfloat", "int", "uint", "bool")):
            return super().find_class(module, name)  # dtypes
        if module == "copyreg" and name in ("_reconstructor", "__newobj__"):
            return super().find_class(module, name)
        if module.split(".", 1)[0] in OURS:
            found = super().find_class(module, name)
            if isinstance(found, type):  # classes only: no function of ours is called
                return found
        raise StateError(f"a state may not hold {module}.{name}")


def dumps(root: object) -> bytes:
    """``root`` (a restyler, an analyzer, a list of them) as bytes, its models by path."""
    kept = {id(obj): path for path, obj in kept_objects(root).items()}
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, kept).dump(root)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise StateError(f"the temporal state cannot be written: {exc}") from exc
    return buffer.getvalue()


def loads(data: bytes, like: object) -> Any:
    """The object :func:`dumps` wrote, its models taken from ``like`` (built the same way)."""
    try:
        return _Unpickler(io.BytesIO(data), kept_objects(like)).load()
    except StateError:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"the temporal state cannot be read: {exc}") from exc


def restore(like: object, data: bytes) -> None:
    """Load the state :func:`dumps` wrote into ``like`` itself, built the same way: each of its
    vidx and temporal objects takes the written one's attributes, so whatever points at them
    from outside the walk (the attention processors installed in a UNet share the restyler's
    cross-frame state; a forward hook holds its counter) sees the state."""
    loaded = loads(data, like)
    twins: dict[int, object] = {}  # id(loaded object) -> the object of ``like`` at its place

    def pair(new: object, old: object) -> None:
        if isinstance(new, list | tuple) and type(new) is type(old) and len(new) == len(old):
            for a, b in zip(new, old, strict=True):  # type: ignore[arg-type]
                pair(a, b)
            return
        if id(new) in twins or not (_ours(new) and type(new) is type(old)):
            return
        if not (hasattr(new, "__dict__") and hasattr(old, "__dict__")):
            return
        twins[id(new)] = old
        for k, v in vars(new).items():
            if k in vars(old):
                pair(v, vars(old)[k])

    pair(loaded, like)
    done: dict[int, object] = {}

    def swap(value: object) -> object:
        """``value`` with every loaded object that has a twin replaced by it, in place."""
        if id(value) in done:
            return done[id(value)]
        if isinstance(value, dict):
            mapping: dict = {}
            done[id(value)] = mapping  # before its items: a cycle through it resolves
            mapping.update({k: swap(v) for k, v in value.items()})
            return mapping
        if isinstance(value, list):
            items: list = []
            done[id(value)] = items
            items.extend(swap(v) for v in value)
            return items
        if isinstance(value, tuple):
            done[id(value)] = value  # a tuple cannot hold itself: rebuilt below
            rebuilt = tuple(swap(v) for v in value)
            done[id(value)] = rebuilt
            return rebuilt
        if _ours(value) and hasattr(value, "__dict__"):
            target = twins.get(id(value), value)
            done[id(value)] = target
            fields = {k: swap(v) for k, v in vars(value).items()}
            vars(target).clear()
            vars(target).update(fields)
            return target
        return value

    swap(loaded)


__all__ = ["StateError", "dumps", "kept_objects", "loads", "restore"]
