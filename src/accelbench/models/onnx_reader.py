"""Read a saved ONNX model without its bulk weight bytes, by walking the protobuf wire format.

``onnx.load`` parses (and copies) every byte of a 250 MB file although profiling only needs the
graph and each initializer's dims and dtype. ``load_weightless`` reads the file piecewise, walks the
ModelProto -> GraphProto -> TensorProto fields itself (varint tags, length-delimited payloads), and
re-assembles a small serialized model from the kept byte ranges: the data of a large initializer is
skipped by its length prefix, so it is never read and the process does not grow by the file size. The small result is then parsed with ``onnx.ModelProto.FromString``.

What is dropped: the data fields (float_data 4, int32_data 5, int64_data 7, raw_data 9, double_data 10,
uint64_data 11) of graph initializers with more than ``KEEP_DATA_ELEMENTS`` elements, unless the tensor
holds indices or strings (INT64/INT32/UINT64/UINT32/STRING: shapes, axes, gather indices that shape
inference and constant folding read). Everything else (name, dims, data_type, external_data and
data_location, nodes, subgraphs, sparse initializers, functions, metadata) is copied byte for byte.
The threshold and the kept types are those of the profiler's light copy (profile/graph.py), so a
profile of the result is identical to one of ``onnx.load``'s model.

Anything the walker does not expect (an unknown field or wire type, a length past the end of the file,
a file with no nodes) falls back to ``onnx.load(path, load_external_data=False)``, which then either
parses the file (e.g. a text-format model) or raises the error the caller already reports.
Field numbers are those of onnx/onnx.proto (checked against onnx 1.x).
"""

from __future__ import annotations

import math
import os

import onnx
from onnx import TensorProto

# Initializers up to this many elements keep their data (as in profile/graph.py and the loader's checker copy).
KEEP_DATA_ELEMENTS = 4096
# Integer tensors that hold shapes, axes or indices, and strings: their data is kept at any size.
_KEEP_DATA_TYPES = frozenset({TensorProto.INT64, TensorProto.INT32, TensorProto.UINT64, TensorProto.UINT32,
                              TensorProto.STRING})

# Wire types.
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# ModelProto fields and the wire type each is written with.
_MODEL_FIELDS = {1: _VARINT, 2: _LEN, 3: _LEN, 4: _LEN, 5: _VARINT, 6: _LEN, 7: _LEN, 8: _LEN, 14: _LEN,
                 20: _LEN, 25: _LEN, 26: _LEN}
_MODEL_GRAPH = 7
# GraphProto fields (all length-delimited): node 1, name 2, initializer 5, doc_string 10, input 11,
# output 12, value_info 13, quantization_annotation 14, sparse_initializer 15, metadata_props 16.
_GRAPH_FIELDS = frozenset({1, 2, 5, 10, 11, 12, 13, 14, 15, 16})
_GRAPH_INITIALIZER = 5
# TensorProto fields: dims 1 (repeated int64), data_type 2, segment 3, the data fields, name 8,
# doc_string 12, external_data 13, data_location 14, metadata_props 16. Repeated scalars may be packed.
_TENSOR_FIELDS = {1: (_VARINT, _LEN), 2: (_VARINT,), 3: (_LEN,), 4: (_I32, _LEN), 5: (_VARINT, _LEN),
                  6: (_LEN,), 7: (_VARINT, _LEN), 8: (_LEN,), 9: (_LEN,), 10: (_I64, _LEN),
                  11: (_VARINT, _LEN), 12: (_LEN,), 13: (_LEN,), 14: (_VARINT,), 16: (_LEN,)}
_TENSOR_DIMS, _TENSOR_DATA_TYPE = 1, 2
_TENSOR_DATA_FIELDS = frozenset({4, 5, 7, 9, 10, 11})


class _Unexpected(Exception):
    """The bytes are not the ModelProto layout the walker knows: let onnx.load decide."""


def load_weightless(path: str | os.PathLike) -> onnx.ModelProto:
    """The model at ``path`` with the data of large non-index initializers left out (dims and dtype kept).

    External data is never read (as ``onnx.load(path, load_external_data=False)``). Raises whatever
    ``onnx.load`` raises for a file that is not a readable binary ONNX model (truncated, corrupt, text).
    """
    path = os.fspath(path)
    try:
        proto = _read(path)
    except (_Unexpected, ValueError, OSError):
        proto = None
    if proto is None or not proto.graph.node:
        # Not the layout walked above (text formats, corrupt or cut files, no graph): onnx.load's verdict.
        return onnx.load(path, load_external_data=False)
    return proto


class _FileBytes:
    """Byte access to an open file by ``os.pread`` of small windows: only the bytes asked for (and the
    window around them) are read. An mmap would do the same work, but the kernel maps neighbouring
    pages of weight data into the process on each fault (~90 MB of RSS for YOLOv3)."""

    _WINDOW = 4096

    def __init__(self, fd: int):
        self.fd = fd
        self.base = 0
        self.window = b""

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop = key.start, key.stop
            if self.base <= start and stop <= self.base + len(self.window):
                return self.window[start - self.base:stop - self.base]
            data = os.pread(self.fd, stop - start, start)
            if len(data) != stop - start:
                raise _Unexpected("file shorter than its fields")
            return data
        if not self.base <= key < self.base + len(self.window):
            self.base = key
            self.window = os.pread(self.fd, self._WINDOW, key)
            if not self.window:
                raise _Unexpected("file shorter than its fields")
        return self.window[key - self.base]


def _read(path: str) -> onnx.ModelProto:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise _Unexpected("empty file")
        # Copies only the kept ranges; the skipped weight bytes are never read.
        data = b"".join(_model_pieces(_FileBytes(f.fileno()), size))
    try:
        return onnx.ModelProto.FromString(data)
    except Exception as exc:  # protobuf DecodeError: a corrupt byte inside a copied range
        raise _Unexpected(str(exc)) from None


def _varint(buf: _FileBytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the unsigned varint at ``pos``."""
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Unexpected("varint runs past its message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: _FileBytes, pos: int, end: int):
    """Yield (field number, wire type, field start, value start, field end) over one message's bytes."""
    while pos < end:
        start = pos
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        value = pos
        if wire == _VARINT:
            _, pos = _varint(buf, pos, end)
        elif wire == _LEN:
            length, value = _varint(buf, pos, end)
            pos = value + length
        elif wire == _I64:
            pos += 8
        elif wire == _I32:
            pos += 4
        else:  # groups (3, 4) are not used by onnx.proto; 6, 7 are invalid
            raise _Unexpected(f"wire type {wire}")
        if number == 0 or pos > end:
            raise _Unexpected("field runs past its message")
        yield number, wire, start, value, pos


def _len_field(number: int, payload: list) -> list:
    """A length-delimited field (tag, length, payload pieces) as a list of byte pieces."""
    size = sum(len(p) for p in payload)
    return [_encode_varint(number << 3 | _LEN), _encode_varint(size), *payload]


def _model_pieces(buf: _FileBytes, size: int) -> list:
    pieces: list = []
    run = 0  # start of the current run of fields copied as they are
    for number, wire, start, value, end in _fields(buf, 0, size):
        if _MODEL_FIELDS.get(number) != wire:
            raise _Unexpected(f"ModelProto field {number} (wire type {wire})")
        if number != _MODEL_GRAPH:
            continue
        graph = _graph_pieces(buf, value, end)
        if graph is None:  # nothing dropped: the graph's bytes stay in the run
            continue
        pieces.append(buf[run:start])
        pieces.extend(_len_field(_MODEL_GRAPH, graph))
        run = end
    pieces.append(buf[run:size])
    return pieces


def _graph_pieces(buf: _FileBytes, begin: int, finish: int) -> list | None:
    """The GraphProto at buf[begin:finish] with large initializers slimmed, or None when nothing changes."""
    pieces: list = []
    run = begin
    changed = False
    for number, wire, start, value, end in _fields(buf, begin, finish):
        if number not in _GRAPH_FIELDS or wire != _LEN:
            raise _Unexpected(f"GraphProto field {number} (wire type {wire})")
        if number != _GRAPH_INITIALIZER:
            continue
        tensor = _slim_tensor(buf, value, end)
        if tensor is None:
            continue
        pieces.append(buf[run:start])
        pieces.extend(_len_field(_GRAPH_INITIALIZER, tensor))
        run = end
        changed = True
    if not changed:
        return None
    pieces.append(buf[run:finish])
    return pieces


def _slim_tensor(buf: _FileBytes, begin: int, finish: int) -> list | None:
    """The TensorProto at buf[begin:finish] without its data fields when it is large and not index/string
    data; None to keep it whole."""
    dims: list[int] = []
    data_type = TensorProto.UNDEFINED
    kept: list[tuple[int, int]] = []
    has_data = False
    for number, wire, start, value, end in _fields(buf, begin, finish):
        if wire not in _TENSOR_FIELDS.get(number, ()):
            raise _Unexpected(f"TensorProto field {number} (wire type {wire})")
        if number in _TENSOR_DATA_FIELDS:
            has_data = True
            continue
        kept.append((start, end))
        if number == _TENSOR_DIMS:
            if wire == _VARINT:
                dims.append(_varint(buf, value, end)[0])
            else:  # packed
                pos = value
                while pos < end:
                    d, pos = _varint(buf, pos, end)
                    dims.append(d)
        elif number == _TENSOR_DATA_TYPE:
            data_type = _varint(buf, value, end)[0]
    # dims are int64: a varint >= 2**63 is negative, i.e. not a real size; keep such a tensor whole.
    if (not has_data or data_type in _KEEP_DATA_TYPES or any(d >= 1 << 63 for d in dims)
            or math.prod(dims) <= KEEP_DATA_ELEMENTS):
        return None
    return [buf[s:e] for s, e in kept]
