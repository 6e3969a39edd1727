"""Read a legacy (non-zip) ``torch.save`` file with numpy, so that torch never becomes a dependency.

Pretrained weights are often published only as ``.pth`` files. The legacy format is a sequence of
pickles followed by raw storage bytes:

1. the magic number, 2. the protocol version (1001), 3. system info (endianness, type sizes),
4. the pickled object, whose tensors refer to storages by *persistent id*,
5. the pickled list of storage keys, then for each key in that order: the element count as a
   little-endian int64 and the storage's raw bytes.

Unpickling is restricted to the few globals a state dict needs, so a crafted file cannot run code.
"""

from __future__ import annotations

import collections
import os
import pickle
from dataclasses import dataclass

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchFileError(ValueError):
    """The file is not a legacy torch pickle this reader understands."""


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor_v2(storage, offset, shape, strides, *_grad_hooks_metadata):
    return _TensorRef(storage, int(offset), tuple(shape), tuple(strides))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise TorchFileError(f"refusing to unpickle {module}.{name}: not part of a plain state dict")

    def persistent_load(self, pid):
        kind, dtype, key, _location, _size, *_ = pid
        if kind != "storage":
            raise TorchFileError(f"unknown persistent id {kind!r}")
        return _StorageRef(str(key), dtype)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a legacy ``torch.save`` state dict, as numpy arrays in their logical shapes."""
    with open(path, "rb") as stream:
        unpickler = _Unpickler(stream)
        try:
            magic = unpickler.load()
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise TorchFileError(f"{path} is not a legacy torch file: {exc}") from exc
        if magic != MAGIC_NUMBER:
            raise TorchFileError(f"{path} is not a legacy torch file (it may be the newer zip format)")
        protocol = unpickler.load()
        if protocol != PROTOCOL_VERSION:
            raise TorchFileError(f"unsupported torch protocol version {protocol}")
        if not unpickler.load().get("little_endian", False):
            raise TorchFileError("big-endian torch files are not supported")
        state = unpickler.load()
        if not all(isinstance(ref, _TensorRef) for ref in state.values()):
            raise TorchFileError(f"{path} holds more than a state dict of tensors")
        dtypes = {ref.storage.key: np.dtype(ref.storage.dtype) for ref in state.values()}
        storages = {key: _read_storage(stream, key, dtypes[key]) for key in unpickler.load()}
    return {name: _materialize(ref, storages) for name, ref in state.items()}


def _read_storage(stream, key: str, dtype: np.dtype) -> np.ndarray:
    header = stream.read(8)
    count = int.from_bytes(header, "little", signed=True) if len(header) == 8 else -1
    data = stream.read(count * dtype.itemsize) if count >= 0 else b""
    if count < 0 or len(data) != count * dtype.itemsize:
        raise TorchFileError(f"truncated file: storage {key} is incomplete")
    return np.frombuffer(data, dtype=dtype)


def _materialize(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    flat = storages[ref.storage.key]
    if ref.offset + _extent(ref) > flat.size:
        raise TorchFileError(f"tensor of shape {ref.shape} does not fit its storage {ref.storage.key}")
    # Strides matter: these weights were converted from TensorFlow and keep its channels-last layout.
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :],
        shape=ref.shape,
        strides=tuple(step * flat.itemsize for step in ref.strides),
        writeable=False,
    )
    return np.array(view)


def _extent(ref: _TensorRef) -> int:
    if 0 in ref.shape:
        return 0
    return 1 + sum((size - 1) * step for size, step in zip(ref.shape, ref.strides, strict=True))
