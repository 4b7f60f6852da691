"""Price one pass of an ingested graph (ONNX, a PyTorch trace) on a device: the graph's op
records enter the same placed run as an LLM's (:func:`hetsim.placement.phase.price_phase`
under a placement, with the device's execution model).

Ops run one after another (one stream, no inter-kernel overlap). A graph's tensors are not
split into the placed groups (qkv, attention, fc, head) the placement policies move, so
every policy that could apply places it on the primary side: ``primary`` and ``auto`` (whose
candidates other than primary place groups only) are honoured, any other policy, tensor or
pipeline parallelism is refused by name.
"""

from __future__ import annotations

from hetsim.analysis.breakdown import class_shares
from hetsim.analysis.graph_result import GraphResult, UnsupportedShare
from hetsim.analysis.result import OpResult
from hetsim.cost.power import run_energy_j, throttled_s
from hetsim.cost.roofline import Cost, Overlap
from hetsim.errors import ConfigError, MappingError
from hetsim.hardware.loader import get_hardware
from hetsim.hardware.spec import Device
from hetsim.ingest.records import IngestedGraph
from hetsim.placement.choose import AUTO
from hetsim.placement.phase import price_phase
from hetsim.placement.policies import check_name
from hetsim.placement.record import Placement
from hetsim.workload.dtypes import Precision

GRAPH_POLICIES = (AUTO, "primary")


def check_graph_options(tp: int = 1, pp: int = 1, policy: str = AUTO) -> str:
    """Refuse what a graph's pass cannot honour, by name; the policy's registry name."""
    for value, name in ((tp, "--tp"), (pp, "--pp")):
        if value != 1:
            raise ConfigError(
                f"{name} {value} does not apply to an ONNX or PyTorch graph: its pass runs on one "
                f"device (the graph's ops are not sharded); drop {name}"
            )
    key = check_name(policy)
    if key not in GRAPH_POLICIES:
        raise MappingError(
            f"--policy {key} does not apply to an ONNX or PyTorch graph: its tensors are not split "
            "into the groups a placement moves, so they stay on the primary side; use --policy auto "
            "or primary"
        )
    return key


def analyze_graph(
    graph: IngestedGraph,
    hardware: Device | str,
    precision: Precision | None = None,
    *,
    overlap: Overlap = "max",
    policy: str = AUTO,
    tp: int = 1,
    pp: int = 1,
) -> GraphResult:
    """Latency, throughput, MFU/MBU, energy and the per-op roofline of one pass, priced under
    the ``primary`` placement (see the module's note for ``policy``, ``tp``, ``pp``)."""
    check_graph_options(tp, pp, policy)
    dev = get_hardware(hardware) if isinstance(hardware, str) else hardware
    prec = precision or Precision()
    ops = graph.to_ops(prec)
    pl = Placement.primary(len(dev.sides))
    costs = [c.cost for c in price_phase(ops, dev, prec, pl, overlap=overlap, detail=False).costs]
    total = sum(costs, Cost())
    side = dev.primary
    unit_names = [side.unit_for(op.prefers).name for op in ops]
    # the board's power limit and active floor apply as in sim/inference.py (cost/power.py)
    t = float(throttled_s(float(total.time_s), float(total.energy_j), dev)) or 1e-30
    results = [
        OpResult(
            name=op.name,
            phase="pass",
            sublayer=g.op_class,
            kind=g.op_type,
            unit=u,
            count=1,
            flop=float(c.flop),
            bytes=float(c.bytes),
            weight_bytes=float(op.weight_bytes),
            kv_bytes=float(op.kv_read_bytes + op.kv_write_bytes),
            act_bytes=float(op.act_read_bytes + op.act_write_bytes),
            intensity=float(c.flop) / float(c.bytes) if float(c.bytes) else float("inf"),
            time_s=float(c.time_s),
            compute_s=float(c.compute_s),
            memory_s=float(c.memory_s),
            energy_j=float(c.energy_j),
            bound=c.bound,
        )
        for g, op, c, u in zip(graph.ops, ops, costs, unit_names, strict=True)
    ]
    classes = class_shares((g.op_class, r) for g, r in zip(graph.ops, results, strict=True))
    weights = float(prec.weight_nbytes(graph.params))
    act_peak = max(
        (float(op.act_read_bytes + op.act_write_bytes + op.kv_read_bytes) for op in ops), default=0.0
    )
    footprint = weights + act_peak
    cap = side.memory.capacity_bytes
    energy = float(run_energy_j(dev, 1, 1, float(total.energy_j), t, t))
    peak = side.unit_for("matrix").peak(prec.compute)
    notes = []
    if graph.unsupported:
        listed = ", ".join(f"{u.op_type} x{u.count}" for u in graph.unsupported)
        how = "counted as free" if graph.unknown_op == "zero" else "bytes counted, flop unknown"
        notes.append(f"unpriced ops hetsim does not know ({how}): {listed}")
    if footprint > cap:
        notes.append(f"does not fit: needs {footprint / 1e9:.1f} GB of {cap / 1e9:.1f} GB")
    b = max(graph.batch, 1)
    return GraphResult(
        model=graph.name,
        hardware=dev.name,
        precision=prec.label,
        fuse=graph.fused,
        batch=b,
        inputs={k: list(v) for k, v in graph.inputs},
        params=graph.params,
        weight_bytes=weights,
        activation_peak_bytes=act_peak,
        footprint_bytes=footprint,
        capacity_bytes=cap,
        fits=bool(footprint <= cap),
        flop=float(total.flop),
        macs=graph.macs,
        bytes=float(total.bytes),
        latency_s=t,
        latency_per_item_s=t / b,
        throughput_items_per_s=b / t,
        mfu=float(total.flop) / t / peak,
        mbu=float(total.bytes) / t / side.memory.bandwidth_bytes_per_s,
        energy_j=energy,
        energy_j_per_item=energy / b,
        avg_power_w=energy / t,
        classes=classes,
        unsupported=[
            UnsupportedShare(u.op_type, u.count, u.node_share, u.byte_share) for u in graph.unsupported
        ],
        ops=results,
        notes=notes,
    )
