"""DRAM timing (hardware/dram.py): a memory's bandwidth, size ramp and access energy derived from
its organisation, timing and energy per command, checked against hand arithmetic and physics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hetsim.errors import ConfigError
from hetsim.hardware.dram import DramTiming, timing_from_mapping
from hetsim.hardware.loader import get_hardware

AIM = DramTiming(
    channels=16,
    banks_per_channel=16,
    row_bytes=2048,
    column_bytes=32,
    trcd_s=28e-9,
    trp_s=16e-9,
    tras_s=27e-9,
    tccd_s=1e-9,
    command_rate_per_s=1e9,
    all_bank=True,
    activate_j=2951e-12,
    column_j=82.2e-12,
)


def test_streaming_bandwidth_is_rows_over_row_rounds() -> None:
    # one round: tRCD 28 + 64 columns x 1 ns + tRP 16 = 108 ns for 256 banks x 2 KiB
    assert AIM.columns_per_row == 64
    assert AIM.round_s(64) == pytest.approx(108e-9)
    assert AIM.bandwidth_bytes_per_s == pytest.approx(256 * 2048 / 108e-9)
    assert AIM.peak_column_bytes_per_s == pytest.approx(256 * 32 / 1e-9)
    assert AIM.energy_j_per_bit == pytest.approx((2951e-12 + 64 * 82.2e-12) / (2048 * 8))


def test_short_streams_pay_a_whole_row_cycle() -> None:
    # 8 kB over 256 banks is one column each: tRCD + max(1 ns, tRAS - tRCD) + tRP
    assert AIM.stream_s(8192) == pytest.approx((28 + 1 + 16) * 1e-9)
    _, eff = AIM.efficiency_points()
    assert eff[0] < 0.05 and eff[-1] > 0.99
    assert all(0 < e <= 1 for e in eff)


def test_per_bank_commands_are_bounded_by_the_command_bus() -> None:
    slow = DramTiming(**{**{f: getattr(AIM, f) for f in AIM.__dataclass_fields__}, "all_bank": False})
    # 16 banks each need a command per column: 16 ns per column at 1 G commands/s
    assert slow.column_s == pytest.approx(16e-9)
    assert slow.bandwidth_bytes_per_s == pytest.approx(256 * 2048 / ((28 + 64 * 16 + 16) * 1e-9))


def test_the_activation_window_delays_opening_every_bank() -> None:
    fields = {f: getattr(AIM, f) for f in AIM.__dataclass_fields__}
    # 16 banks, 8 may open per 20 ns window: the last 8 open 20 ns after the first
    faw = DramTiming(**{**fields, "tfaw_s": 20e-9, "activates_per_faw": 8})
    assert faw.activation_s == pytest.approx(20e-9)
    assert faw.round_s(64) == pytest.approx(128e-9)
    assert faw.bandwidth_bytes_per_s < AIM.bandwidth_bytes_per_s
    # a window wide enough for every bank costs nothing
    wide = DramTiming(**{**fields, "tfaw_s": 20e-9, "activates_per_faw": 16})
    assert wide.round_s(64) == pytest.approx(AIM.round_s(64))
    block = {
        "channels": 16,
        "banks_per_channel": 16,
        "row": "2 KiB",
        "column": "32 B",
        "tRCD": "28 ns",
        "tRP": "16 ns",
        "tRAS": "27 ns",
        "tCCD": "1 ns",
        "tFAW": "20 ns",
        "activates_per_faw": 8,
    }
    assert timing_from_mapping(block, "m").activation_s == pytest.approx(20e-9)
    with pytest.raises(ConfigError, match="activates_per_faw"):
        timing_from_mapping({**block, "activates_per_faw": 0}, "m")


@given(
    nbytes=st.floats(1.0, 1e10),
    extra=st.floats(0.0, 1e9),
    tccd=st.floats(0.5e-9, 4e-9),
    trcd=st.floats(5e-9, 40e-9),
    channels=st.integers(1, 64),
)
def test_a_longer_stream_never_finishes_sooner(
    nbytes: float, extra: float, tccd: float, trcd: float, channels: int
) -> None:
    t = DramTiming(channels, 16, 2048, 32, trcd, 15e-9, 30e-9, tccd, 2e9, True, 1e-9, 1e-10)
    assert t.stream_s(nbytes + extra) >= t.stream_s(nbytes)
    assert t.bandwidth_bytes_per_s <= t.peak_column_bytes_per_s
    # no stream beats the column rate of every bank
    assert nbytes / t.stream_s(nbytes) <= t.peak_column_bytes_per_s * (1 + 1e-9)
    assert t.stream_energy_j(nbytes + extra) >= t.stream_energy_j(nbytes) > 0


def test_block_needs_its_timing_and_refuses_a_bandwidth_beside_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing tRCD"):
        timing_from_mapping(
            {
                "channels": 1,
                "banks_per_channel": 1,
                "row": "2 KiB",
                "column": "32 B",
                "tRP": "1 ns",
                "tRAS": "1 ns",
                "tCCD": "1 ns",
            },
            "m.dram",
        )
    with pytest.raises(ConfigError, match="whole number"):
        timing_from_mapping(
            {
                "channels": 1.5,
                "banks_per_channel": 1,
                "row": "2 KiB",
                "column": "32 B",
                "tRCD": "1 ns",
                "tRP": "1 ns",
                "tRAS": "1 ns",
                "tCCD": "1 ns",
            },
            "m.dram",
        )
    src = Path(__file__).parents[2] / "src/hetsim/experiments/pim_gpt/hardware/pim-gpt.yaml"
    text = src.read_text().replace(
        "      latency: 28 ns\n", "      latency: 28 ns\n      bandwidth: 1 TB/s\n"
    )
    bad = tmp_path / "pim.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="either 'bandwidth' or a 'dram' block"):
        get_hardware(bad)


def test_a_hardware_file_with_dram_prices_its_memory_from_the_timing() -> None:
    dev = get_hardware(Path(__file__).parents[2] / "src/hetsim/experiments/pim_gpt/hardware/pim-gpt.yaml")
    mem = dev.sides[0].memory
    assert mem.dram is not None
    assert mem.bandwidth_bytes_per_s == pytest.approx(mem.dram.bandwidth_bytes_per_s)
    assert mem.energy_j_per_bit == pytest.approx(mem.dram.energy_j_per_bit)
    src = dev.sources()
    assert src["pim.GDDR6-PIM.bandwidth"].kind == "derived"
    assert src["pim.GDDR6-PIM.dram.tRCD"].kind == "paper"
    # a 1 MB weight matrix streams slower than the long-stream rate, a 100 MB one close to it
    assert mem.efficiency(1e6) < mem.efficiency(1e8) <= 1.0
    assert np.isclose(mem.efficiency(1e10), 1.0, atol=0.01)


# NeuPIMs' HBM2-PIM as its authors' simulator times it (NewtonSim, 1 ns clock): 32 channels of
# 32 banks, 1 KiB rows, 32 B per COMP, 4 group activates per pseudo-channel spaced by tFAW
NEWTON = DramTiming(
    channels=32, banks_per_channel=32, row_bytes=1024, column_bytes=32, trcd_s=14e-9, trp_s=14e-9,
    tras_s=34e-9, tccd_s=2e-9, tfaw_s=30e-9, activates_per_faw=8, bank_precharge_s=5e-9,
    vector_write_s=96e-9, gemv=True,
)  # fmt: skip


def test_per_bank_precharge_closes_the_banks_one_command_each() -> None:
    # EstimatePIMOperationLatency's row: 32 banks x (AL 0 + tRTP 5) + tFAW x 3 + tRCDRD + 32 COMPs x 2
    assert NEWTON.close_s == pytest.approx(160e-9)
    assert NEWTON.round_s(32) == pytest.approx((160 + 90 + 14 + 64) * 1e-9)
    all_bank = replace(NEWTON, bank_precharge_s=0.0)
    assert all_bank.round_s(32) == pytest.approx((14 + 90 + 14 + 64) * 1e-9)


def test_pim_attention_counts_the_authors_commands() -> None:
    """GPT-3 7B over TP 4 (8 heads of 128, fp16) at 330 tokens, one sequence in one channel,
    by hand: logits 2 GWRITEs + 11 tiles x (2 rounds + 32 COMPs + 6 extra READRES); context 8
    heads x (1 GWRITE + 4 tiles x 1 round of ceil(660 / 32) = 21 COMPs)."""
    opened, write = (90 + 14 + 160) * 1e-9, (14 + 14 + 96) * 1e-9
    logit = 2 * write + 11 * (2 * opened + 64 * 2e-9 + 6 * 2e-9)
    context = 8 * (write + 4 * (opened + 21 * 2e-9))
    kv = 2 * 330 * 8 * 128 * 2.0
    assert NEWTON.attention_s(1, kv, 8, 128, 2.0) == pytest.approx(logit + context)
    # 32 sequences fill the 32 channels once; the 33rd waits for its channel's first
    assert NEWTON.attention_s(32, 32 * kv, 8, 128, 2.0) == pytest.approx(logit + context)
    assert NEWTON.attention_s(33, 33 * kv, 8, 128, 2.0) == pytest.approx(2 * (logit + context))


@given(st.integers(1, 4096), st.integers(1, 256))
def test_pim_attention_pads_to_whole_tiles_and_never_beats_streaming(tokens: int, seqs: int) -> None:
    kv = 2 * tokens * 8 * 128 * 2.0
    t = float(NEWTON.attention_s(seqs, seqs * kv, 8, 128, 2.0))
    assert t >= seqs * kv / NEWTON.bandwidth_bytes_per_s * (1 - 1e-9)
    padded = 32 * -(-tokens // 32)  # keys padded to whole tiles of 32 tokens: logits cost the same
    whole = float(NEWTON.attention_s(seqs, seqs * 2 * padded * 8 * 128 * 2.0, 8, 128, 2.0))
    assert t <= whole * (1 + 1e-12)
    longer = float(NEWTON.attention_s(seqs, seqs * (kv + 2 * 8 * 128 * 2.0), 8, 128, 2.0))
    assert longer >= t
