"""VPoser's decoder and encoder as ONNX graphs, built node by node from numpy weights.

The graphs are written with ``onnx.helper`` rather than traced by ``torch.onnx.export``: no
exporter back end (TorchScript, or dynamo with onnxscript) is involved, every operator is one
that runtimes have long supported (opset 17 by default; 13 to 21 can be asked for), and the
decoder's output conversion is laid out for a runtime whose cost is per node: 24 nodes after the
MLP, most of them products with small constant matrices (a one-pose decode is ~40 us in ONNX
Runtime on one core, 22 us of it the MLP's weights streaming from memory). Nothing here imports
torch.

The decoder computes what :meth:`vposer.model.VPoser.decode` computes, with the constants of
:mod:`vposer._rotation_tables`:

- the MLP: ``Gemm``, ``LeakyRelu``, ``Gemm``, ``LeakyRelu``, ``Gemm`` -> ``(N, 6 J)``;
- Gram-Schmidt: the columns ``a1``, ``(a1 x a2) x a1``, ``a1 x a2`` of ``R``, as signed sums of
  3-factor products of the 6D components (one ``Gemm`` lays out the factors, ``ReduceProd``
  multiplies them, one ``MatMul`` with a +-1 matrix sums them: a cross product component is
  exactly ``u_y w_z - u_z w_y``), then each column divided by its norm;
- matrix -> axis-angle: the four candidate quaternions ``2 q_i q`` from one ``(9, 16)`` product,
  the pivot ``i`` of the largest ``q_i^2`` (``ArgMax``, ``GatherND``: the first of equal maxima,
  as torch), and the rotation vector ``2 atan(|v| / w) v / |v|``: ONNX has no ``Atan2``, but with
  the sign of ``w`` carried by the odd ``atan`` (``|v| / 0 = inf`` gives ``pi / 2``) this is exact
  near 0 and pi as far as float32 goes.

The encoder is its architecture's layers in order: batch norm (eval) as ``x * a + b`` with
``a = gamma / sqrt(var + eps)``, ``b = beta - mean * a``, linear layers as ``Gemm``, leaky ReLU,
and the two heads: the mean, and ``max(softplus(.), 1e-12)`` (the scale of the ``Normal`` that
``encode`` returns).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import numpy as np

from .._rotation_tables import candidate_map, frame_terms

#: ONNX opset of the exported graphs: in ONNX Runtime since 1.12, onnxruntime-web, TensorRT 8.6+.
DEFAULT_OPSET = 17
#: Oldest and newest opsets the graphs are built for (the reduce operators change at 18).
OPSET_RANGE = (13, 21)
#: The smallest standard deviation the encoder returns (``VPoser.encode`` clamps alike).
MIN_SCALE = 1e-12

@dataclass
class Linear:
    """A linear layer: ``weight (out, in)`` as torch stores it, ``bias (out,)``."""

    weight: np.ndarray
    bias: np.ndarray


@dataclass
class Affine:
    """Batch norm in eval mode: ``x * scale + shift`` per feature."""

    scale: np.ndarray
    shift: np.ndarray


@dataclass
class Leaky:
    """Leaky ReLU with negative ``slope``."""

    slope: float


@dataclass
class DecoderWeights:
    """The decoder MLP: three linear layers with leaky ReLUs between them."""

    fc1: Linear
    fc2: Linear
    out: Linear
    slope: float

    @property
    def latent_dim(self) -> int:
        return int(self.fc1.weight.shape[1])

    @property
    def num_joints(self) -> int:
        return int(self.out.weight.shape[0]) // 6


@dataclass
class EncoderWeights:
    """The encoder: ``body`` layers in order, then the ``mean`` and ``scale`` (softplus) heads."""

    body: list = field(default_factory=list)
    mean: Linear | None = None
    scale: Linear | None = None

    @property
    def input_dim(self) -> int:
        first = next(layer for layer in self.body if isinstance(layer, (Linear, Affine)))
        return int(first.weight.shape[1]) if isinstance(first, Linear) else int(first.scale.shape[0])


class _Builder:
    """Accumulates nodes and initializers under unique names."""

    def __init__(self, onnx: Any, prefix: str):
        self.onnx, self.helper, self.prefix = onnx, onnx.helper, prefix
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}/{hint}_{self._count}"

    def const(self, value: Any, hint: str, dtype: Any = np.float32) -> str:
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, outputs: int | Sequence[str] = 1,
           **attrs: Any) -> Any:
        """Add a node; returns its output name (or a list of names for several outputs)."""
        if isinstance(outputs, int):
            names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        else:
            names = list(outputs)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, name=self.name(op_type), **attrs))
        return names[0] if len(names) == 1 else names

    def reduce(self, op_type: str, x: str, axis: int, opset: int, keepdims: int = 1) -> str:
        if opset >= 18:  # axes became an input
            return self.op(op_type, [x, self.const([axis], "axes", np.int64)], keepdims=keepdims)
        return self.op(op_type, [x], axes=[axis], keepdims=keepdims)

    def reduce_l2(self, x: str, axis: int, opset: int) -> str:
        return self.reduce("ReduceL2", x, axis, opset)

    def linear(self, x: str, layer: Linear, output: str | None = None) -> str:
        w = self.const(layer.weight, "weight")
        b = self.const(layer.bias, "bias")
        return self.op("Gemm", [x, w, b], "linear", outputs=[output] if output else 1, transB=1)

    def model(self, inputs: list, outputs: list, opset: int, doc: str) -> Any:
        graph = self.helper.make_graph(self.nodes, self.prefix, inputs, outputs, self.initializers)
        model = self.helper.make_model(
            graph, opset_imports=[self.helper.make_opsetid("", opset)],
            producer_name="vposer", doc_string=doc,
        )
        # the oldest IR version the opset allows (ONNX Runtime 1.14 and later read IR 8)
        model.ir_version = 8 if opset <= 18 else 9 if opset <= 20 else 10
        return model


def _check_opset(opset: int) -> None:
    lo, hi = OPSET_RANGE
    if not lo <= opset <= hi:
        raise ValueError(f"opset {opset} is outside the supported range {lo}..{hi}")


def _sixd_to_rotations(b: _Builder, d6: str, j: int, opset: int) -> None:
    """Nodes from ``d6`` ``(N, 6 J)`` to the graph outputs ``matrices`` and ``axis_angle``."""
    i64 = lambda values: b.const(values, "shape", np.int64)  # noqa: E731
    d = b.op("Reshape", [d6, i64([-1, 6])])  # (N J, 6): x1 x2 y1 y2 z1 z2
    # Gram-Schmidt: every entry of the unnormalised R is a signed sum of 3-factor products
    select, ones, combine = (t.astype(np.float32) for t in frame_terms())
    factors = b.op("Gemm", [d, b.const(select, "factor_select"), b.const(ones, "factor_ones")])
    products = b.reduce("ReduceProd", b.op("Reshape", [factors, i64([-1, combine.shape[0], 3])]), 2, opset,
                        keepdims=0)
    frame = b.op("MatMul", [products, b.const(combine, "frame_combine")])  # (N J, 9), row-major R
    # unit columns: each entry over its column's norm (the column sums of squares by one product)
    column_sums = np.kron(np.ones((3, 3)), np.eye(3)).astype(np.float32)
    norms = b.op("Sqrt", [b.op("MatMul", [b.op("Mul", [frame, frame]), b.const(column_sums, "column_sums")])])
    flat = b.op("Div", [frame, norms])
    b.op("Reshape", [flat, i64([-1, j, 3, 3])], outputs=["matrices"])
    # axis-angle: candidate quaternions 2 q_i q, the pivot i of the largest q_i^2
    cmap, cbias = (t.astype(np.float32) for t in candidate_map((0.5,)))  # 2 q_i q
    cand = b.op("Gemm", [flat, b.const(cmap, "candidates"), b.const(cbias, "candidates_bias")])
    diagonal = b.op("MatMul", [flat, b.const(cmap[:, [0, 5, 10, 15]], "pivot_squares")])  # less 1/2
    best = b.op("ArgMax", [diagonal], axis=1, keepdims=1)  # (N J, 1), first of equal maxima as torch
    p = b.op("GatherND", [b.op("Reshape", [cand, i64([-1, 4, 4])]), best], batch_dims=1)  # (N J, 4)
    # v + 1e-18 (whose square is still a normal float32): v = 0 (no rotation) gives 1e-18, not
    # 0 / 0; a change of at most 1e-18 rad to any other rotation vector
    v = b.op("Gemm", [p, b.const(np.eye(4, 3), "vector_part"), b.const(np.full(3, 1e-18), "tiny")])
    w = b.op("MatMul", [p, b.const([[0], [0], [0], [1]], "scalar_part")])
    nv = b.reduce_l2(v, 1, opset)
    # half the angle, signed as w: atan(|v| / w) (atan is odd; |v| / 0 = inf gives pi / 2), and
    # the result is the same for p and -p: the choice of pivot does not matter for the sign
    half = b.op("Atan", [b.op("Div", [nv, w])])
    scale = b.op("Div", [b.op("Mul", [half, b.const(2.0, "two")]), nv])
    b.op("Reshape", [b.op("Mul", [v, scale]), i64([-1, j, 3])], outputs=["axis_angle"])


def _rotation_outputs(onnx: Any, j: int) -> list:
    f32, vi = onnx.TensorProto.FLOAT, onnx.helper.make_tensor_value_info
    return [vi("axis_angle", f32, ["batch", j, 3]), vi("matrices", f32, ["batch", j, 3, 3])]


def decoder_model(weights: DecoderWeights, opset: int = DEFAULT_OPSET, doc: str = "") -> Any:
    """The ONNX decoder: input ``z`` ``(batch, D)`` float32 -> ``axis_angle`` ``(batch, J, 3)`` and
    ``matrices`` ``(batch, J, 3, 3)``, as :meth:`vposer.model.VPoser.decode` gives them."""
    import onnx

    _check_opset(opset)
    b = _Builder(onnx, "decoder")
    h = b.op("LeakyRelu", [b.linear("z", weights.fc1)], alpha=weights.slope)
    h = b.op("LeakyRelu", [b.linear(h, weights.fc2)], alpha=weights.slope)
    _sixd_to_rotations(b, b.linear(h, weights.out), weights.num_joints, opset)
    z = onnx.helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, ["batch", weights.latent_dim])
    return b.model([z], _rotation_outputs(onnx, weights.num_joints), opset, doc)


def rotations_model(num_joints: int, opset: int = DEFAULT_OPSET) -> Any:
    """The decoder's output conversion alone: input ``d6`` ``(batch, 6 J)`` -> ``axis_angle`` and
    ``matrices`` (what :func:`vposer.model.fast_rotations.sixd_to_matrix_and_axis_angle` gives),
    for testing the conversion on chosen rotations."""
    import onnx

    _check_opset(opset)
    b = _Builder(onnx, "rotations")
    _sixd_to_rotations(b, "d6", num_joints, opset)
    d6 = onnx.helper.make_tensor_value_info("d6", onnx.TensorProto.FLOAT, ["batch", 6 * num_joints])
    return b.model([d6], _rotation_outputs(onnx, num_joints), opset, "VPoser's 6D to rotation conversion")


def encoder_model(weights: EncoderWeights, opset: int = DEFAULT_OPSET, doc: str = "") -> Any:
    """The ONNX encoder: input ``poses`` ``(batch, 3 J)`` float32 axis-angle -> ``mean`` and
    ``scale`` ``(batch, D)``, the posterior ``Normal``'s parameters as :meth:`VPoser.encode` gives
    them (the scale clamped to at least :data:`MIN_SCALE`)."""
    import onnx

    _check_opset(opset)
    f32 = onnx.TensorProto.FLOAT
    b = _Builder(onnx, "encoder")
    x = "poses"
    for layer in weights.body:
        if isinstance(layer, Affine):
            x = b.op("Add", [b.op("Mul", [x, b.const(layer.scale, "bn_scale")]), b.const(layer.shift, "bn_shift")])
        elif isinstance(layer, Linear):
            x = b.linear(x, layer)
        elif isinstance(layer, Leaky):
            x = b.op("LeakyRelu", [x], alpha=layer.slope)
        else:  # pragma: no cover - the exporter only makes the three kinds
            raise TypeError(f"unknown encoder layer {layer!r}")
    b.linear(x, weights.mean, output="mean")
    softplus = b.op("Softplus", [b.linear(x, weights.scale)])
    b.op("Max", [softplus, b.const(MIN_SCALE, "min_scale")], outputs=["scale"])
    latent = int(weights.mean.weight.shape[0])
    vi = onnx.helper.make_tensor_value_info
    return b.model(
        [vi("poses", f32, ["batch", weights.input_dim])],
        [vi("mean", f32, ["batch", latent]), vi("scale", f32, ["batch", latent])],
        opset, doc,
    )
