"""A tiny ONNX graph writer: just enough protobuf to hand a model to ONNX Runtime in memory.

Why not `torch.onnx.export`: it needs the `onnx` package (not installed, and heavy) and
torch at run time; the encoder's weights are plain arrays in a safetensors file, so
writing the graph directly keeps the ONNX path free of torch and of any export step.
Only the ONNX messages and fields the encoder needs are written (field numbers from
onnx.proto); ONNX Runtime validates the result when it opens it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

IR_VERSION = 8  # ONNX 1.10+: every ONNX Runtime since 1.10 reads it
_DTYPES: dict[np.dtype, int] = {
    np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
}
_ELEM: dict[str, int] = {"float": 1, "int32": 6, "int64": 7}
# AttributeProto.AttributeType
_FLOAT, _INT, _STRING, _FLOATS, _INTS = 1, 2, 3, 6, 7


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are ten-byte two's complement varints
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bytes(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _key(number, 2) + _varint(len(data)) + data


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little-endian)."""
    array = np.asarray(array, order="C")  # not ascontiguousarray: it turns scalars 1-d
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    return dims + _int(2, _DTYPES[array.dtype]) + _bytes(8, name) + _bytes(9, raw)


def attribute(name: str, value: float | int | str | Sequence[int] | Sequence[float]) -> bytes:
    """AttributeProto: name=1, f=2, i=3, s=4, floats=7, ints=8, type=20."""
    head = _bytes(1, name)
    if isinstance(value, bool | int):
        return head + _int(3, int(value)) + _int(20, _INT)
    if isinstance(value, float):
        return head + _float(2, value) + _int(20, _FLOAT)
    if isinstance(value, str):
        return head + _bytes(4, value) + _int(20, _STRING)
    items = list(value)
    if items and all(isinstance(v, float) for v in items):
        return head + b"".join(_float(7, v) for v in items) + _int(20, _FLOATS)
    return head + b"".join(_int(8, int(v)) for v in items) + _int(20, _INTS)


def value_info(name: str, elem: str, shape: Sequence[int | str]) -> bytes:
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2}}}."""
    dims = b"".join(
        _bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in shape
    )
    tensor_type = _int(1, _ELEM[elem]) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


@dataclass
class Graph:
    """Builds a graph node by node; `op` returns the output name(s) for chaining."""

    name: str
    nodes: list[bytes] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)
    domains: dict[str, int] = field(default_factory=dict)
    _count: int = 0
    _consts: set[str] = field(default_factory=set)

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, name: str, array: np.ndarray) -> str:
        """An initializer; a name already added is reused (shared constants)."""
        if name not in self._consts:
            self._consts.add(name)
            self.initializers.append(tensor(name, array))
        return name

    def input(self, name: str, elem: str, shape: Sequence[int | str]) -> str:
        self.inputs.append(value_info(name, elem, shape))
        return name

    def output(self, name: str, elem: str, shape: Sequence[int | str]) -> None:
        self.outputs.append(value_info(name, elem, shape))

    def op(self, op_type: str, inputs: Iterable[str], n_out: int = 1, *, domain: str = "",
           out: str | None = None, **attrs: float | int | str | Sequence[int]) -> str:
        """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7.
        Returns the single output's name (use `op_multi` for several)."""
        return self.op_multi(op_type, inputs, n_out, domain=domain, out=out, **attrs)[0]

    def op_multi(self, op_type: str, inputs: Iterable[str], n_out: int = 1, *,
                 domain: str = "", out: str | None = None,
                 **attrs: float | int | str | Sequence[int]) -> list[str]:
        outs = [out] if out and n_out == 1 else [self.fresh(op_type.lower()) for _ in range(n_out)]
        body = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outs)
        body += _bytes(3, self.fresh("n_" + op_type)) + _bytes(4, op_type)
        body += b"".join(_bytes(5, attribute(k, v)) for k, v in attrs.items())
        if domain:
            body += _bytes(7, domain)
            self.domains.setdefault(domain, 1)
        self.nodes.append(body)
        return outs

    def model(self, opset: int, producer: str = "easel") -> bytes:
        """ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8."""
        graph = b"".join(_bytes(1, n) for n in self.nodes) + _bytes(2, self.name)
        graph += b"".join(_bytes(5, t) for t in self.initializers)
        graph += b"".join(_bytes(11, i) for i in self.inputs)
        graph += b"".join(_bytes(12, o) for o in self.outputs)
        opsets = _bytes(8, _bytes(1, "") + _int(2, opset))
        opsets += b"".join(_bytes(8, _bytes(1, d) + _int(2, v)) for d, v in self.domains.items())
        return _int(1, IR_VERSION) + _bytes(2, producer) + _bytes(7, graph) + opsets
