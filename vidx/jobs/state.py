"""A restyler's temporal state as data: what one carried segment hands the next (issue 15).

A diffusion segment that starts where the one before it stopped must look as if one process
had rendered both: the previous latent, the noise and its flow field, the anchors and patches
of the propagation, the random generators. :func:`dumps` writes the state holders (restylers,
the analyzer) as a safetensors file: every tensor and array is a safetensors entry, and the
structure around them is JSON in the file's metadata, under a schema version. It never holds
code: nothing read back is unpickled, no class is looked up by a name the file chooses, and
no function of ours runs while it is read.

Like ``torch.nn.Module.load_state_dict(strict=True)``, :func:`restore` loads *into* the
receiving worker's freshly built holders (``like``), and the receivers declare what they hold:

- an object of ours that ``like`` already has at the same place takes the written fields in
  place (so whatever points at it from outside the walk, such as the attention processors
  installed in a UNet, sees the state); its field names must be exactly the ones it has;
- an object that the holders make while they run (an anchor, a noise field) must be a
  dataclass of :data:`CARRIED`, created without running its ``__init__``; its field names must
  be exactly its dataclass fields;
- a model (``nn.Module``, a diffusers pipeline or scheduler, an ONNX session, a hook) and the
  job's options are not state: they are written as the path at which they are reached
  (``.engine.pipe``) and must be at that path in ``like``;
- a tensor that ``like`` already holds at a place must come back with its dtype and shape.

Anything missing, extra, of another class, shape or dtype is a :class:`StateError`, raised
before any holder is changed. A new field of a holder is carried without a list to update (the
fields are walked), and a new dataclass the holders make is refused by :func:`dumps` until it
is declared in :data:`CARRIED`, so a field cannot be forgotten.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from vidx.errors import VidxError

if TYPE_CHECKING:  # torch loads with the holders that use it, not with every job
    import torch

FORMAT = "vidx-state"
VERSION = 2  # 1 was a pickle (vidx 0.2 before issue 23): not read
OURS = ("vidx", "temporal")  # packages whose classes are state, not models
MAX_DEPTH = 64  # nesting of the structure; the holders' own is under 12
MAX_NODES = 1_000_000  # entries in the structure; a long diffusion state has a few thousand

# The dataclasses a holder makes while it runs, which a state may therefore create. Declared
# here by name (imported only when a state names one of them): a new one is refused by dumps
# until it is added, so the test suite's carried runs find it.
CARRIED = frozenset(
    {
        "temporal.noise:NoiseField",
        "temporal.propagate:Anchor",
        "vidx.jobs.two_pass:KeyOutputs",
        "vidx.restyle.diffusion.attention:CrossFrameState",
        "vidx.restyle.diffusion.denoise:Conditioning",
        "vidx.restyle.diffusion.engine:Seeds",
        "vidx.restyle.diffusion.img2img:RestyleStats",
    }
)
# Configuration, built by the receiving worker from the job: kept by path, never loaded (the
# option groups, ``vidx.options.OptionGroup``, are; this names any other such class).
CONFIG: frozenset[str] = frozenset()
DEVICES = ("cpu", "cuda", "mps", "xpu")
NP_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class StateError(VidxError, ValueError):
    """A state cannot be written (it holds something that is neither data nor a model) or
    read back (damaged, from another vidx, or built for other holders)."""


def class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _root(cls: type) -> str:
    return cls.__module__.split(".", 1)[0]


def _ours(obj: object) -> bool:
    """An instance of a vidx or temporal class (state, walked into)."""
    return not isinstance(obj, type) and _root(type(obj)) in OURS


def _config(obj: object) -> bool:
    from vidx.options import OptionGroup

    return isinstance(obj, OptionGroup) or class_name(type(obj)) in CONFIG


def _kept(obj: object) -> bool:
    """Whether ``obj`` stays where it is (a model, a session, the options): written as its
    path, not as data."""
    if obj is None or isinstance(obj, str | bytes | int | float | complex | Fraction):
        return False
    if isinstance(obj, dict | list | tuple | set | frozenset | np.ndarray | np.generic):
        return False
    if isinstance(obj, np.random.Generator | np.dtype):
        return False
    if _root(type(obj)) == "torch":
        import torch

        return not isinstance(obj, torch.Tensor | torch.Generator | torch.dtype | torch.device)
    return _config(obj) or not _ours(obj)


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


def _fields(obj: object) -> dict[str, Any]:
    """The attributes of one of our objects; a dataclass must hold its fields and no more."""
    found = vars(obj)
    if dataclasses.is_dataclass(obj):
        declared = [f.name for f in dataclasses.fields(obj)]
        if set(found) != set(declared):
            extra = sorted(set(found) - set(declared))
            raise StateError(f"{class_name(type(obj))} holds {extra}, which are not its fields")
    return found


class _Writer:
    """Turns the holders into a JSON structure plus named tensors, sharing what they share."""

    def __init__(self, kept: dict[int, str]) -> None:
        self.kept = kept
        self.tensors: dict[str, Any] = {}  # entry name -> torch.Tensor
        self.names: dict[int, str] = {}  # id(tensor or array) -> its entry
        self.objects: dict[int, int] = {}  # id(object of ours) -> its number
        self.alive: list[object] = []  # keeps the ids above from being reused meanwhile

    def entry(self, obj: Any, tensor: torch.Tensor) -> str:
        if id(obj) not in self.names:
            self.names[id(obj)] = str(len(self.names))
            self.tensors[self.names[id(obj)]] = tensor.detach().cpu().contiguous().clone()
            self.alive.append(obj)
        return self.names[id(obj)]

    def node(self, obj: Any, path: str) -> Any:
        if id(obj) in self.kept:
            return {"$": "kept", "path": self.kept[id(obj)]}
        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, int) and type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if isinstance(obj, list) and type(obj) is list:
            return [self.node(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if type(obj) in (tuple, set, frozenset):
            items = sorted(obj, key=repr) if not isinstance(obj, tuple) else obj
            kind = type(obj).__name__
            return {"$": kind, "items": [self.node(v, f"{path}[{i}]") for i, v in enumerate(items)]}
        if type(obj) is dict:
            pairs = [[self.node(k, path), self.node(v, f"{path}[{k!r}]")] for k, v in obj.items()]
            return {"$": "dict", "items": pairs}
        if isinstance(obj, Fraction):
            return {"$": "fraction", "n": obj.numerator, "d": obj.denominator}
        if _root(type(obj)) == "torch":
            return self.torch_node(obj, path)
        if isinstance(obj, np.ndarray | np.generic):
            import torch

            if obj.dtype.kind not in "biuf" or obj.dtype.byteorder == ">":
                raise StateError(f"the temporal state cannot hold a {obj.dtype} array ({path})")
            kind = "array" if isinstance(obj, np.ndarray) else "scalar"
            return {"$": kind, "key": self.entry(obj, torch.from_numpy(np.asarray(obj).copy()))}
        if isinstance(obj, np.random.Generator):
            bits = obj.bit_generator.state
            return {"$": "np_generator", "state": self.node(bits, path)}
        if _ours(obj) and hasattr(obj, "__dict__"):
            return self.ours(obj, path)
        raise self.refuse(obj, path)

    def refuse(self, obj: Any, path: str) -> StateError:
        return StateError(
            f"the temporal state cannot be written: {path or 'it'} holds a "
            f"{type(obj).__module__}.{type(obj).__qualname__}, neither data nor a model"
        )

    def torch_node(self, obj: Any, path: str) -> Any:
        import torch

        if isinstance(obj, torch.Tensor):
            name, device, grad = self.entry(obj, obj), str(obj.device), obj.requires_grad
            return {"$": "tensor", "key": name, "device": device, "grad": grad}
        if isinstance(obj, torch.Generator):
            state = obj.get_state()
            return {"$": "generator", "key": self.entry(obj, state), "device": str(obj.device)}
        if isinstance(obj, torch.dtype):
            return {"$": "dtype", "v": str(obj).removeprefix("torch.")}
        if isinstance(obj, torch.device):
            return {"$": "device", "v": str(obj)}
        raise self.refuse(obj, path)

    def ours(self, obj: Any, path: str) -> Any:
        if id(obj) in self.objects:
            return {"$": "ref", "id": self.objects[id(obj)]}
        name = class_name(type(obj))
        if dataclasses.is_dataclass(obj) and name not in CARRIED:
            raise StateError(
                f"the temporal state holds a {name} ({path}): declare it in vidx.jobs.state.CARRIED"
            )
        self.objects[id(obj)] = number = len(self.objects)
        self.alive.append(obj)
        fields = {k: self.node(v, f"{path}.{k}") for k, v in _fields(obj).items()}
        return {"$": "object", "class": name, "id": number, "fields": fields}


def dumps(root: object) -> bytes:
    """``root`` (a restyler, an analyzer, a tuple or list of them) as safetensors bytes: the
    arrays as entries, the structure as JSON metadata, its models and options by path."""
    from safetensors.torch import save

    writer = _Writer({id(obj): path for path, obj in kept_objects(root).items()})
    tree = writer.node(root, "")
    meta = {"format": FORMAT, "version": str(VERSION), "tree": json.dumps(tree)}
    return save(writer.tensors, metadata=meta)


def labelled(data: bytes, label: str) -> bytes:
    """State bytes with ``label`` (the job and segment that wrote them) in their metadata;
    the entries are not touched (their offsets count from the end of the header)."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header.setdefault("__metadata__", {})["label"] = label
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors keeps the entries 8-byte aligned
    return len(text).to_bytes(8, "little") + text + data[8 + size :]


def label(data: bytes) -> str | None:
    """The label :func:`labelled` gave ``data``; None when it has none or is no state."""
    try:
        value = _metadata(data).get("label")
    except (StateError, ValueError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _read(data: bytes) -> tuple[Any, dict[str, torch.Tensor]]:
    """The structure and the entries of a state file, checked to be one of ours."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        # safetensors checks the header's size and every entry's extent against the bytes
        # before it makes a tensor, so nothing larger than ``data`` is allocated here
        tensors = load(data)
        meta = _metadata(data)
        if meta.get("format") != FORMAT or meta.get("version") != str(VERSION):
            raise StateError("the temporal state is not a vidx state of this version")
        tree = json.loads(meta["tree"])
    except StateError:
        raise
    except (SafetensorError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise StateError(f"the temporal state cannot be read: {exc}") from None
    return tree, tensors


def _metadata(data: bytes) -> dict[str, str]:
    """The metadata of safetensors bytes (the header's ``__metadata__``)."""
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or size > len(data) - 8:
        raise StateError("the temporal state is cut short")
    header = json.loads(data[8 : 8 + size])
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise StateError("the temporal state has no vidx metadata")
    return meta


class _Reader:
    """Builds the written structure against the receiving holders, changing none of them:
    the fields of the holders' own objects are collected and set by :meth:`apply`."""

    def __init__(self, tensors: dict[str, torch.Tensor], kept: dict[str, object]) -> None:
        self.tensors = tensors
        self.kept = kept
        self.objects: dict[int, object] = {}
        self.taken: dict[tuple[str, str], Any] = {}  # (kind, entry) -> what it became
        self.fill: list[tuple[object, dict[str, Any]]] = []
        self.nodes = 0

    def fail(self, path: str, why: str) -> StateError:
        return StateError(
            f"the temporal state does not fit this job at {path or 'its root'}: {why}"
        )

    def value(self, node: Any, like: Any, path: str, depth: int = 0) -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise self.fail(path, "nested too deep or too large")
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            likes = (
                like if isinstance(like, list) and len(like) == len(node) else [None] * len(node)
            )
            return [
                self.value(v, w, f"{path}[{i}]", depth + 1)
                for i, (v, w) in enumerate(zip(node, likes, strict=True))
            ]
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise self.fail(path, "an entry of unknown form")
        kind = node["$"]
        read = getattr(self, f"read_{kind}", None)
        if read is None:
            raise self.fail(path, f"an entry of unknown kind {kind!r}")
        return read(node, like, path, depth + 1)

    def items(self, node: dict, path: str) -> list:
        items = node.get("items")
        if not isinstance(items, list):
            raise self.fail(path, "a container without items")
        return items

    def read_kept(self, node: dict, like: Any, path: str, depth: int) -> Any:
        where = node.get("path")
        if not isinstance(where, str) or where not in self.kept:
            raise self.fail(path, f"it refers to {where!r}, which the models here do not have")
        return self.kept[where]

    def read_float(self, node: dict, like: Any, path: str, depth: int) -> float:
        if node.get("v") not in ("nan", "inf", "-inf"):
            raise self.fail(path, "a float that is not a number")
        return float(node["v"])

    def read_tuple(self, node: dict, like: Any, path: str, depth: int) -> tuple:
        items = self.items(node, path)
        likes = like if isinstance(like, tuple) and len(like) == len(items) else [None] * len(items)
        return tuple(
            self.value(v, w, f"{path}[{i}]", depth)
            for i, (v, w) in enumerate(zip(items, likes, strict=True))
        )

    def read_set(self, node: dict, like: Any, path: str, depth: int) -> set:
        return set(self.hashable(node, path, depth))

    def read_frozenset(self, node: dict, like: Any, path: str, depth: int) -> frozenset:
        return frozenset(self.hashable(node, path, depth))

    def hashable(self, node: dict, path: str, depth: int) -> list:
        keys = [self.value(v, None, path, depth) for v in self.items(node, path)]
        for k in keys:
            if not _hashable(k):
                raise self.fail(path, "a set or key that is not plain data")
        return keys

    def read_dict(self, node: dict, like: Any, path: str, depth: int) -> dict:
        out: dict = {}
        likes = like if isinstance(like, dict) else {}
        for pair in self.items(node, path):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise self.fail(path, "a mapping entry that is not a pair")
            key = self.value(pair[0], None, path, depth)
            if not _hashable(key):
                raise self.fail(path, "a mapping key that is not plain data")
            out[key] = self.value(pair[1], likes.get(key), f"{path}[{key!r}]", depth)
        return out

    def read_fraction(self, node: dict, like: Any, path: str, depth: int) -> Fraction:
        n, d = node.get("n"), node.get("d")
        if type(n) is not int or type(d) is not int or d <= 0:
            raise self.fail(path, "a fraction that is not two integers")
        return Fraction(n, d)

    def entry(self, node: dict, kind: str, path: str) -> tuple[Any, bool]:
        """Entry ``node["key"]`` as read before as ``kind`` (shared stays shared), ``True``;
        else the raw entry, ``False``."""
        key = node.get("key")
        if not isinstance(key, str) or key not in self.tensors:
            raise self.fail(path, f"it names an array {key!r} the file does not hold")
        if (kind, key) in self.taken:
            return self.taken[kind, key], True
        return self.tensors[key], False

    def read_tensor(self, node: dict, like: Any, path: str, depth: int) -> torch.Tensor:
        import torch

        t, known = self.entry(node, "tensor", path)
        if known:
            return t
        if isinstance(like, torch.Tensor) and (like.dtype, like.shape) != (t.dtype, t.shape):
            raise self.fail(
                path, f"a {t.dtype} {tuple(t.shape)} tensor where {like.dtype} "
                f"{tuple(like.shape)} is held"
            )  # fmt: skip
        device = _device(node.get("device"), path, self)
        t = t.to(device).requires_grad_(node.get("grad") is True and t.is_floating_point())
        self.taken["tensor", node["key"]] = t
        return t

    def read_array(self, node: dict, like: Any, path: str, depth: int) -> np.ndarray:
        array, known = self.entry(node, "array", path)
        if known:
            return array
        array = array.numpy()
        if isinstance(like, np.ndarray) and (like.dtype, like.shape) != (array.dtype, array.shape):
            raise self.fail(
                path, f"a {array.dtype} {array.shape} array where {like.dtype} {like.shape} is held"
            )
        self.taken["array", node["key"]] = array
        return array

    def read_scalar(self, node: dict, like: Any, path: str, depth: int) -> np.generic:
        value, known = self.entry(node, "scalar", path)
        array = value if known else value.numpy()
        self.taken["scalar", node["key"]] = array
        if array.shape != ():
            raise self.fail(path, "a scalar that is not one value")
        return array[()]

    def read_generator(self, node: dict, like: Any, path: str, depth: int) -> torch.Generator:
        import torch

        state, known = self.entry(node, "generator", path)
        if known:
            return state
        g = torch.Generator(device=_device(node.get("device"), path, self))
        try:
            g.set_state(state)
        except (RuntimeError, TypeError) as exc:
            raise self.fail(path, f"a generator state that does not load ({exc})") from None
        self.taken["generator", node["key"]] = g
        return g

    def read_np_generator(self, node: dict, like: Any, path: str, depth: int) -> Any:
        state = self.value(node.get("state"), None, path, depth)
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name not in NP_BIT_GENERATORS:
            raise self.fail(path, f"a NumPy generator of unknown kind {name!r}")
        bits = getattr(np.random, name)()
        try:
            bits.state = state
        except (ValueError, TypeError, KeyError) as exc:
            raise self.fail(path, f"a NumPy generator state that does not load ({exc})") from None
        return np.random.Generator(bits)

    def read_dtype(self, node: dict, like: Any, path: str, depth: int) -> torch.dtype:
        import torch

        dtype = getattr(torch, str(node.get("v")), None)
        if not isinstance(dtype, torch.dtype):
            raise self.fail(path, f"an unknown dtype {node.get('v')!r}")
        return dtype

    def read_device(self, node: dict, like: Any, path: str, depth: int) -> torch.device:
        return _device(node.get("v"), path, self)

    def read_ref(self, node: dict, like: Any, path: str, depth: int) -> object:
        number = node.get("id")
        if not isinstance(number, int) or number not in self.objects:
            raise self.fail(path, f"a reference to an object not written before it ({number!r})")
        return self.objects[number]

    def read_object(self, node: dict, like: Any, path: str, depth: int) -> object:
        name, number, fields = node.get("class"), node.get("id"), node.get("fields")
        if not (isinstance(name, str) and isinstance(fields, dict) and type(number) is int):
            raise self.fail(path, "an object without class, number or fields")
        if number in self.objects:
            raise self.fail(path, f"object {number} written twice")
        if _ours(like) and class_name(type(like)) == name and hasattr(like, "__dict__"):
            # one of the holders' own objects: its fields are exactly the ones it has now
            target, expected = like, set(vars(like))
            self.objects[number] = target
            values = self.object_fields(fields, expected, vars(like), path, depth)
            self.fill.append((target, values))
            return target
        cls = _carried(name)
        if cls is None:
            raise self.fail(path, f"a {name}, which a state may not create")
        expected = {f.name for f in dataclasses.fields(cls)}
        target = object.__new__(cls)  # no __init__: the fields are set below
        self.objects[number] = target
        values = self.object_fields(fields, expected, {}, path, depth)
        for k, v in values.items():
            object.__setattr__(target, k, v)
        return target

    def object_fields(
        self, fields: dict, expected: set[str], likes: dict, path: str, depth: int
    ) -> dict[str, Any]:
        if set(fields) != expected:
            missing, extra = sorted(expected - set(fields)), sorted(set(fields) - expected)
            raise self.fail(path, f"fields missing {missing}, unexpected {extra}")
        return {k: self.value(v, likes.get(k), f"{path}.{k}", depth) for k, v in fields.items()}

    def apply(self) -> None:
        for target, values in self.fill:
            vars(target).clear()
            vars(target).update(values)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _device(name: object, path: str, reader: _Reader) -> torch.device:
    import torch

    if not isinstance(name, str) or name.split(":", 1)[0] not in DEVICES:
        raise reader.fail(path, f"an unknown device {name!r}")
    try:
        device = torch.device(name)
        torch.empty(0, device=device)  # the device exists here
    except (RuntimeError, AssertionError) as exc:
        raise reader.fail(path, f"device {name!r} is not available ({exc})") from None
    return device


def _carried(name: str) -> type | None:
    """The dataclass ``name`` of :data:`CARRIED` (its module is one of ours, already loaded
    by the holders that make it); None for any other name."""
    if name not in CARRIED:
        return None
    module, qualname = name.split(":", 1)
    cls = getattr(importlib.import_module(module), qualname, None)
    return cls if isinstance(cls, type) and dataclasses.is_dataclass(cls) else None


def restore(like: object, data: bytes) -> None:
    """Load the state :func:`dumps` wrote into ``like`` itself, built the same way; a state
    that does not fit ``like`` is a :class:`StateError` and changes nothing."""
    tree, tensors = _read(data)
    reader = _Reader(tensors, kept_objects(like))
    try:
        if not _fits(reader.value(tree, like, ""), like):
            raise StateError("the temporal state is not one of these holders")
    except StateError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError, MemoryError) as exc:
        raise StateError(f"the temporal state cannot be read: {exc}") from None
    unused = set(tensors) - {key for _, key in reader.taken}
    if unused:
        raise StateError(f"the temporal state holds {len(unused)} arrays nothing refers to")
    reader.apply()


def _fits(loaded: object, like: object) -> bool:
    """Whether ``loaded`` is ``like`` itself, or holds its holders at the same places."""
    if isinstance(like, list | tuple):
        same = type(loaded) is type(like) and len(loaded) == len(like)  # type: ignore[arg-type]
        return same and all(_fits(a, b) for a, b in zip(loaded, like, strict=True))  # type: ignore[call-overload]
    return loaded is like or (like is None and loaded is None)


__all__ = ["CARRIED", "StateError", "dumps", "kept_objects", "label", "labelled", "restore"]
