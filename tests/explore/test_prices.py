"""The price book: every entry sourced and dated, capex from parts, overrides, bad input."""

from __future__ import annotations

import dataclasses

import pytest

import hetsim
from hetsim.cost.prices import default_prices, device_capex, system_cost, usd_per_mtoken
from hetsim.errors import ConfigError


def test_every_price_has_a_source_and_a_date() -> None:
    book = default_prices()
    entries = [book.electricity_usd_per_kwh, book.pue, book.amortization_years, book.utilization,
               *book.memory_usd_per_gb.values(), *book.devices.values(), *book.chips.values()]  # fmt: skip
    for p in entries:
        assert p.source and p.date, p
    for tech in ("HBM3", "HBM3e", "LPDDR5X", "DDR5", "GDDR7", "CXL", "NVMe"):
        assert tech in book.memory_usd_per_gb


def test_capex_is_logic_plus_memory_and_keeps_the_street_price() -> None:
    h100 = hetsim.get_hardware("h100-sxm")
    c = device_capex(h100)
    assert c.total_usd == pytest.approx(default_prices().devices["h100-sxm"].value)
    assert c.memory_usd == pytest.approx(80 * default_prices().memory_usd_per_gb["HBM3"].value)
    h2m2 = device_capex(hetsim.get_hardware("h2m2"))
    lp = device_capex(hetsim.get_hardware("h2m2-lpddr-only"))
    hbm8 = device_capex(hetsim.get_hardware("hbm-8x"))
    assert h2m2.logic_usd == pytest.approx(lp.logic_usd) == pytest.approx(2 * hbm8.logic_usd)  # 2 chips
    assert h2m2.total_usd - lp.total_usd == pytest.approx(
        96 * default_prices().memory_usd_per_gb["HBM3"].value
    )


def test_system_cost_per_hour_and_per_token() -> None:
    s = system_cost(hetsim.get_hardware("h100-sxm"), n_devices=8, power_w=5600.0)
    book = default_prices()
    own = s.capex_usd / (book.amortization_years.value * 8760)
    run = 5.6 * book.pue.value * book.electricity_usd_per_kwh.value
    assert s.usd_per_hour == pytest.approx(own + run)
    assert float(usd_per_mtoken(s.usd_per_hour, 1000.0)) == pytest.approx(s.usd_per_hour / 3.6)


def test_overrides_and_bad_prices() -> None:
    book = default_prices().with_overrides({"memory_usd_per_gb": {"HBM3": {"value": 20, "source": "quote"}}})
    assert book.memory_usd_per_gb["HBM3"].value == 20
    with pytest.raises(ConfigError, match="did you mean pue"):
        default_prices().with_overrides({"pue_": 1.2})
    with pytest.raises(ConfigError, match="pue must be at least 1"):
        default_prices().with_overrides({"pue": 0.9})
    with pytest.raises(ConfigError, match="non-negative number"):
        default_prices().with_overrides({"devices": {"h100-sxm": -5}})
    custom = dataclasses.replace(hetsim.get_hardware("h100-sxm"), name="my-gpu", price_usd=0.0)
    with pytest.raises(ConfigError, match=r"no price for hardware 'my-gpu'.*prices: \{devices: \{my-gpu"):
        device_capex(custom)
