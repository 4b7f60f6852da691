"""Graph patterns shared by the ONNX and PyTorch ingesters."""

from __future__ import annotations

from hetsim.ingest.records import GraphOp

ATTN_BETWEEN = frozenset(("Div", "Mul", "Add", "Sub", "Where", "Cast", "Dropout", "Identity"))


def mark_attention(ops: list[GraphOp]) -> list[GraphOp]:
    """Find MatMul -> [scale/mask]* -> Softmax -> [cast/dropout]* -> MatMul chains (the
    unfused attention pattern) and mark their nodes as one attention instance each."""
    producer = {t.name: i for i, o in enumerate(ops) for t in o.writes}
    consumers: dict[str, list[int]] = {}
    for i, o in enumerate(ops):
        for t in o.reads:
            consumers.setdefault(t.name, []).append(i)
    out = list(ops)
    for s_idx, s in enumerate(ops):
        if s.op_type != "Softmax":
            continue
        chain = [s_idx]
        j = s_idx
        first = None
        while True:  # walk back through scale/mask ops to the score MatMul
            acts = [t.name for t in ops[j].reads if t.role == "activation" and t.name in producer]
            if not acts:
                break
            j = producer[acts[0]]
            if ops[j].op_type in ("MatMul", "Einsum"):
                first = j
                break
            if ops[j].op_type not in ATTN_BETWEEN:
                break
            chain.append(j)
        j, second = s_idx, None
        while second is None:  # walk forward to the context MatMul
            nxt = consumers.get(ops[j].writes[0].name, []) if ops[j].writes else []
            if len(nxt) != 1:
                break
            j = nxt[0]
            if ops[j].op_type in ("MatMul", "Einsum"):
                second = j
            elif ops[j].op_type in ATTN_BETWEEN:
                chain.append(j)
            else:
                break
        if first is None or second is None:
            continue
        group = f"attention@{s.name}"
        for k in (first, second, *chain):
            o = out[k]
            kind = "attention" if o.kind == "gemm" else o.kind
            out[k] = GraphOp(
                o.name, o.op_type, "attention", kind, o.prefers, o.flop, o.macs, o.reads, o.writes,
                o.gemm_mnk, o.supported, o.members, group,
            )  # fmt: skip
    return out
