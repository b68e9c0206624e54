"""Precision passes on exported ONNX graphs: reductions and norm math stay in fp32.

A reduced-precision graph (fp16/bf16 weights and activations) loses accuracy where many values
are summed or squared: in the mean of a norm, ``x**2`` overflowing fp16, or averaging folded
channels. The model's ``ChannelRMSNorm`` already computes in fp32 (the exporter keeps its casts);
:func:`keep_reductions_fp32` wraps every other accumulating reduction that sees fp16/bf16 in
casts to fp32 and back, and :func:`low_precision_math` audits a graph for any left over. TensorRT
builds strongly typed networks, so these casts are exactly the precision it runs.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

LOW_PRECISION = {TensorProto.FLOAT16, TensorProto.BFLOAT16}
#: reductions that accumulate (max/min are exact in any precision and stay as they are)
ACCUMULATING = {
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceProd",
}
#: the math of a norm besides its mean; it must see fp32 too
NORM_MATH = {"Pow", "Sqrt", "Reciprocal"}


def elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """The element type of every named tensor of the main graph (after shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types = {t.name: t.data_type for t in g.initializer}
    for vi in (*g.input, *g.output, *g.value_info):
        types[vi.name] = vi.type.tensor_type.elem_type
    return types


def keep_reductions_fp32(model: onnx.ModelProto) -> int:
    """Run every accumulating reduction on fp16/bf16 data in fp32 (cast in, reduce, cast back).

    Rewrites ``model`` in place and returns how many reductions were wrapped.
    """
    types = elem_types(model)
    nodes = []
    wrapped = 0
    for node in model.graph.node:
        low = types.get(node.input[0]) if node.input else None
        if node.op_type not in ACCUMULATING or low not in LOW_PRECISION:
            nodes.append(node)
            continue
        wrapped += 1
        tag = f"vaekit_fp32_{wrapped}"
        source, result = node.input[0], node.output[0]
        node.input[0], node.output[0] = f"{tag}_in", f"{tag}_out"
        nodes += [
            helper.make_node("Cast", [source], [node.input[0]], name=f"{tag}_cast_in", to=TensorProto.FLOAT),
            node,
            helper.make_node("Cast", [node.output[0]], [result], name=f"{tag}_cast_out", to=low),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return wrapped


def low_precision_math(model: onnx.ModelProto) -> list[str]:
    """Nodes that reduce or do norm math on fp16/bf16 inputs (empty for a well-formed export)."""
    types = elem_types(model)
    return [
        f"{n.op_type} {n.name}"
        for n in model.graph.node
        if n.op_type in ACCUMULATING | NORM_MATH and n.input and types.get(n.input[0]) in LOW_PRECISION
    ]
