"""Every supported ONNX op on a graph built with onnx.helper, against hand-computed counts
(flop: multiply-add = 2; MACs of the matrix ops; bytes by role at fp16 activations/weights)."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx import TensorProto, helper

from hetsim.ingest import ingest_onnx
from hetsim.workload.dtypes import Precision
from tests.ingest.graphs import init, save, vi

FP16 = Precision()


def one(path: Path, **kw: object):  # type: ignore[no-untyped-def]
    g = ingest_onnx(path, **kw)  # type: ignore[arg-type]
    assert len(g.ops) == 1, [o.op_type for o in g.ops]
    return g.ops[0]


def test_matmul_batched_with_weight(tmp_path: Path) -> None:
    # (2, 8, 16) x W(16, 32): MACs = 2*8*16*32; weight 16*32; act in 2*8*16, out 2*8*32
    p = save(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [2, 8, 16])], ["y"],
             [init("w", [16, 32])])  # fmt: skip
    op = one(p)
    assert op.macs == 2 * 8 * 16 * 32 and op.flop == 2 * op.macs
    assert op.gemm_mnk == (16.0, 32.0, 16.0)
    o = op.to_op(FP16)
    assert o.weight_bytes == 16 * 32 * 2 and o.act_read_bytes == 2 * 8 * 16 * 2
    assert o.act_write_bytes == 2 * 8 * 32 * 2 and o.kind == "gemm"


def test_gemm_trans_b_and_bias(tmp_path: Path) -> None:
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    p = save(tmp_path, [node], [vi("x", [4, 64])], ["y"], [init("w", [10, 64]), init("b", [10])])
    op = one(p)
    assert op.macs == 4 * 64 * 10
    assert op.flop == 2 * 4 * 64 * 10 + 4 * 10  # plus the bias add
    assert op.to_op(FP16).weight_bytes == (640 + 10) * 2


def test_conv_groups_strides_dilation(tmp_path: Path) -> None:
    # x (1, 8, 32, 32), W (16, 8/2, 3, 3), groups 2, stride 2, dilation 2, pad 2 -> out 16x16
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=2, strides=[2, 2], dilations=[2, 2],
                            pads=[2, 2, 2, 2], kernel_shape=[3, 3])  # fmt: skip
    p = save(tmp_path, [node], [vi("x", [1, 8, 32, 32])], ["y"], [init("w", [16, 4, 3, 3])])
    op = one(p)
    assert op.macs == 1 * 16 * 16 * 16 * 4 * 9  # N Cout Ho Wo (Cin/g) kh kw
    assert op.flop == 2 * op.macs
    assert op.writes[0].elements == 16 * 16 * 16


def test_depthwise_conv(tmp_path: Path) -> None:
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=8, pads=[1, 1, 1, 1])
    p = save(tmp_path, [node], [vi("x", [1, 8, 10, 10])], ["y"], [init("w", [8, 1, 3, 3])])
    assert one(p).macs == 8 * 10 * 10 * 9


def test_conv_transpose(tmp_path: Path) -> None:
    # x (1, 4, 8, 8), W (4, 6, 2, 2), stride 2 -> y (1, 6, 16, 16); MACs = N Cin H W Cout k
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2])
    p = save(tmp_path, [node], [vi("x", [1, 4, 8, 8])], ["y"], [init("w", [4, 6, 2, 2])])
    op = one(p)
    assert op.macs == 4 * 8 * 8 * 6 * 4
    assert op.writes[0].elements == 6 * 16 * 16


def test_unfused_attention_pattern(tmp_path: Path) -> None:
    # q, k, v (1, 2, 4, 8); scores (1, 2, 4, 4): QK^T and PV are 1*2*4*4*8 MACs each
    nodes = [
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        helper.make_node("Div", ["s", "scale"], ["s2"]),
        helper.make_node("Softmax", ["s2"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["o"]),
    ]
    ins = [vi(n, [1, 2, 4, 8]) for n in ("q", "k", "v")]
    g = ingest_onnx(save(tmp_path, nodes, ins, ["o"], [init("scale", [1])]))
    by = {o.op_type: o for o in g.ops}
    attn = [o for o in g.ops if o.op_class == "attention"]
    assert {o.op_type for o in attn} == {"MatMul", "Div", "Softmax"}
    assert len({o.group for o in attn}) == 1 and attn[0].group
    assert sum(o.macs for o in attn) == 2 * (2 * 4 * 4 * 8)
    assert by["Softmax"].flop == 5 * 2 * 4 * 4
    assert by["Transpose"].op_class == "other" and by["Transpose"].flop == 0


def test_fused_attention_op_opset23(tmp_path: Path) -> None:
    # Q (1, 4, 16, 8), K/V (1, 2, 32, 8): pairs 1*4*16*32; MACs pairs*(8+8); flop 2 MACs + 5 pairs
    node = helper.make_node("Attention", ["q", "k", "v"], ["o"])
    ins = [vi("q", [1, 4, 16, 8]), vi("k", [1, 2, 32, 8]), vi("v", [1, 2, 32, 8])]
    op = one(save(tmp_path, [node], ins, ["o"], opset=23))
    pairs = 4 * 16 * 32
    assert op.macs == pairs * 16 and op.flop == 2 * pairs * 16 + 5 * pairs
    assert op.kind == "attention" and op.op_class == "attention"


def test_multihead_attention_contrib(tmp_path: Path) -> None:
    # com.microsoft MultiHeadAttention, Q (2, 10, 64), K/V (2, 12, 64), 4 heads of 16:
    # pairs 2*4*10*12; MACs pairs*(16+16); the output (no ONNX inference) is shaped like Q
    node = helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["o"], domain="com.microsoft", num_heads=4)
    ins = [vi("q", [2, 10, 64]), vi("k", [2, 12, 64]), vi("v", [2, 12, 64])]
    op = one(save(tmp_path, [node], ins, ["o"]))
    pairs = 2 * 4 * 10 * 12
    assert op.macs == pairs * 32 and op.flop == 2 * pairs * 32 + 5 * pairs
    assert op.writes[0].elements == 2 * 10 * 64


def test_norms_elementwise_softmax_pool_resize(tmp_path: Path) -> None:
    x = [1, 4, 8, 8]
    n = 4 * 8 * 8
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("Sigmoid", ["r"], ["sg"]),
        helper.make_node("MaxPool", ["sg"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["mp"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["ap", "", "sc"], ["rs"], mode="nearest"),
        helper.make_node("GlobalAveragePool", ["rs"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["fl"]),
        helper.make_node("LayerNormalization", ["fl", "ls"], ["ln"], axis=-1),
        helper.make_node("Softmax", ["ln"], ["sm"]),
    ]
    inits = [init(k, [4]) for k in "sbmv"] + [init("ls", [4]), init("sc", [4])]
    import numpy as np
    from onnx import numpy_helper

    inits[-1] = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "sc")
    g = ingest_onnx(save(tmp_path, nodes, [vi("x", x)], ["sm"], inits))
    f = {o.op_type: o.flop for o in g.ops}
    assert f["BatchNormalization"] == 2 * n and f["Relu"] == n and f["Sigmoid"] == 4 * n
    assert f["MaxPool"] == 4 * (4 * 4 * 4)  # window 4 per output, 4x4x4 outputs
    assert f["AveragePool"] == 9 * (4 * 4 * 4)
    assert f["Resize"] == 0  # nearest
    assert f["GlobalAveragePool"] == 4 * 8 * 8  # resized back to 8x8
    assert f["LayerNormalization"] == 5 * 4 and f["Softmax"] == 5 * 4
    classes = {o.op_type: o.op_class for o in g.ops}
    assert classes["BatchNormalization"] == "normalisation" and classes["Relu"] == "elementwise"
    assert classes["MaxPool"] == "other" and "Flatten" not in classes  # a view: no traffic
    assert g.view_nodes == 1


def test_data_movement_counts_bytes_only(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
        helper.make_node("Concat", ["t", "t"], ["c"], axis=0),
        helper.make_node("Slice", ["c", "st", "en"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["r"]),
        helper.make_node("Gather", ["table", "ids"], ["e"]),
        helper.make_node("Add", ["r", "e"], ["y"]),
    ]
    import numpy as np
    from onnx import numpy_helper

    inits = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "st"),
        numpy_helper.from_array(np.array([4], dtype=np.int64), "en"),
        numpy_helper.from_array(np.array([4, 6], dtype=np.int64), "shape"),
        init("table", [100, 6]),
    ]
    ins = [vi("x", [6, 4]), vi("ids", [4], TensorProto.INT64)]
    g = ingest_onnx(save(tmp_path, nodes, ins, ["y"], inits))
    by = {o.op_type: o for o in g.ops}
    for t in ("Transpose", "Concat", "Slice", "Gather"):
        assert by[t].flop == 0 and by[t].op_class == "other"
    assert by["Transpose"].to_op(FP16).bytes == 2 * 24 * 2
    gather = by["Gather"].to_op(FP16)
    assert gather.weight_bytes == 4 * 6 * 2  # an embedding lookup reads the rows it gathers
    assert gather.act_read_bytes == 4 * 8  # int64 ids keep their own size
    assert "Reshape" not in by


def test_einsum(tmp_path: Path) -> None:
    node = helper.make_node("Einsum", ["a", "b"], ["c"], equation="bij,bjk->bik")
    p = save(tmp_path, [node], [vi("a", [3, 4, 5]), vi("b", [3, 5, 6])], ["c"])
    assert one(p).macs == 3 * 4 * 5 * 6


def test_symbolic_batch_binding(tmp_path: Path) -> None:
    p = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["batch", 3, 4])], ["y"])
    g = ingest_onnx(p, batch=5)
    assert g.batch == 5 and g.ops[0].flop == 5 * 12
    g2 = ingest_onnx(p, {"x": (7, 3, 4)})
    assert g2.batch == 7 and g2.ops[0].flop == 7 * 12


def test_kv_inputs_and_outputs_take_the_kv_role(tmp_path: Path) -> None:
    nodes = [helper.make_node("Concat", ["past_key", "k"], ["present_key"], axis=2)]
    # no initialisers: static inputs after the first would be weights, so mark k as data
    # with a symbolic batch dimension (the documented rule)
    ins = [vi("past_key", ["batch", 2, 10, 8]), vi("k", ["batch", 2, 1, 8])]
    op = one(save(tmp_path, nodes, ins, ["present_key"]))
    o = op.to_op(Precision.of("fp16", kv="int8"))
    # a cache update writes the new token only (int8 KV: 1 byte), reading it from the fp16 k
    assert o.kv_read_bytes == 0 and o.kv_write_bytes == 2 * 1 * 8
    assert o.act_read_bytes == 2 * 8 * 2


def test_sequence_dimension_takes_input_len(tmp_path: Path) -> None:
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    p = save(tmp_path, [node], [vi("x", ["batch", "sequence", 16])], ["y"], [init("w", [16, 4])])
    g = ingest_onnx(p, batch=2, seq_len=8)
    assert g.ops[0].macs == 2 * 8 * 16 * 4 and dict(g.inputs)["x"] == (2, 8, 16)


@pytest.mark.parametrize(
    ("op_type", "opset", "attrs", "params", "per_element"),
    [
        ("InstanceNormalization", 17, {}, 2, 5.0),
        ("GroupNormalization", 21, {"num_groups": 2}, 2, 5.0),
        ("RMSNormalization", 23, {}, 1, 4.0),
        ("LayerNormalization", 17, {}, 1, 5.0),
    ],
)
def test_normalisations(
    tmp_path: Path, op_type: str, opset: int, attrs: dict[str, int], params: int, per_element: float
) -> None:
    # channel norms on (2, 4, 6, 6); last-axis norms on (2, 36, 4): 288 elements, 4-wide scale
    shape = [2, 36, 4] if op_type in ("LayerNormalization", "RMSNormalization") else [2, 4, 6, 6]
    scale = [4]
    names = ["s", "b"][:params]
    node = helper.make_node(op_type, ["x", *names], ["y"], **attrs)
    p = save(tmp_path, [node], [vi("x", shape)], ["y"], [init(n, scale) for n in names], opset=opset)
    op = one(p)
    assert op.op_class == "normalisation" and op.flop == per_element * 2 * 4 * 36
    assert op.to_op(FP16).weight_bytes == params * 4 * 2


def test_resize_linear(tmp_path: Path) -> None:
    import numpy as np
    from onnx import numpy_helper

    node = helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="linear")
    sc = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "sc")
    op = one(save(tmp_path, [node], [vi("x", [1, 3, 4, 4])], ["y"], [sc]))
    assert op.flop == 2 * 2**2 * (3 * 8 * 8)  # bilinear: 4 taps, a multiply-add each, per output


def test_decode_step_with_kv_cache(tmp_path: Path) -> None:
    # one decode step of one attention head: x (B, 1, 8); past K/V (B, 1, P, 8) -> present (P + 1)
    import numpy as np
    from onnx import numpy_helper

    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q3"]),
        helper.make_node("MatMul", ["x", "wk"], ["k3"]),
        helper.make_node("MatMul", ["x", "wv"], ["v3"]),
        helper.make_node("Unsqueeze", ["q3", "ax"], ["q"]),
        helper.make_node("Unsqueeze", ["k3", "ax"], ["k"]),
        helper.make_node("Unsqueeze", ["v3", "ax"], ["v"]),
        helper.make_node("Concat", ["past_key", "k"], ["present_key"], axis=2),
        helper.make_node("Concat", ["past_value", "v"], ["present_value"], axis=2),
        helper.make_node("Transpose", ["present_key"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        helper.make_node("Softmax", ["s"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "present_value"], ["o"]),
    ]
    ax = numpy_helper.from_array(np.array([1], dtype=np.int64), "ax")
    inits = [init("wq", [8, 8]), init("wk", [8, 8]), init("wv", [8, 8]), ax]
    ins = [
        vi("x", ["batch", 1, 8]),
        vi("past_key", ["batch", 1, "past", 8]),
        vi("past_value", ["batch", 1, "past", 8]),
    ]
    p = save(tmp_path, nodes, ins, ["o", "present_key", "present_value"], inits)
    shapes = {"past_key": (2, 1, 15, 8), "past_value": (2, 1, 15, 8)}
    g = ingest_onnx(p, shapes, batch=2)
    ops = [o.to_op(FP16) for o in g.ops]
    kv_written = sum(o.kv_write_bytes for o in ops)
    assert kv_written == 2 * (2 * 1 * 8 * 2)  # K and V of the new token, fp16
    attn = [o for o in g.ops if o.op_class == "attention"]
    assert {o.op_type for o in attn} == {"MatMul", "Softmax"}
    assert sum(o.macs for o in attn) == 2 * (2 * 1 * 16 * 8)  # q . K^T and p . V over 16 tokens
    kv_read = sum(o.kv_read_bytes for o in ops)
    assert kv_read == 2 * (2 * 16 * 8 * 2)  # the whole cache (15 + 1 tokens), K and V, read once
