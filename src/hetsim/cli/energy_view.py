"""The energy table of ``hetsim validate``: published power and energy rows against the board
power model (calibration/energy.py), fitted vs held-out, per hardware and metric."""

from __future__ import annotations

from hetsim.api.validation import DATASET_LENGTHS, EnergyReport
from hetsim.cli.common import console


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.1%}"


def render_energy(rep: EnergyReport, width: int = 100) -> None:
    from rich.table import Table

    if not rep.scores and not rep.skipped:
        return  # no energy rows in the files
    console.print(
        f"energy: {len(rep.scores)} rows scored of {len(rep.scores) + sum(rep.skipped.values())}; "
        f"active-power fraction {rep.active_fraction:g}, on-chip {rep.onchip_j_per_bit * 1e12:.3g} pJ/bit; "
        f"MAPE fitted {_pct(rep.mape('fitted'))}, held-out {_pct(rep.mape('held-out'))}"
        + (
            f"; skipped: {', '.join(f'{k} {v}' for k, v in sorted(rep.skipped.items()))}"
            if rep.skipped
            else ""
        ),
        width=width,
    )
    if not rep.scores:
        console.print("energy: no energy row could be scored (reasons above)")
        return
    t = Table(title="energy (board power model)", title_justify="left", width=width)
    for col in ("role", "hardware", "metric"):
        t.add_column(col, overflow="fold")
    for col in ("rows", "MAPE"):
        t.add_column(col, justify="right", no_wrap=True)
    for (role, hw, metric), (n, mape) in rep.groups().items():
        t.add_row(role, hw, metric, str(n), _pct(mape))
    console.print(t)
    if rep.leave_one_out:
        console.print("leave one GPU out (avg_power of the fit rows, both power knobs fitted without it):")
        for hw, (a, e, m) in rep.leave_one_out.items():
            console.print(f"  {hw}: MAPE {_pct(m)} at fraction {a:.3g}, on-chip {e * 1e12:.3g} pJ/bit")
    if any(s.assumed_lengths for s in rep.scores):
        console.print(
            f"rows marked 'dataset' assume {DATASET_LENGTHS[0]} tokens in / "
            f"{DATASET_LENGTHS[1]} out (calibration/energy.py::DATASET_LENGTHS)"
        )
