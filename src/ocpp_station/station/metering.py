"""Turning a meter reading into OCPP SampledValues (OCPP 1.6 §3.16, §7.43–7.45).

A configured measurand is reported for every phase the meter measures it on (§3.16.3), with the
location and unit it is measured in. An item may carry a phase suffix ("Voltage.L1") to ask for
that phase alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ocpp_station.hardware.interfaces import MeterReading

SampledValue = dict[str, Any]

_PHASES = ("L1", "L2", "L3")
_VOLTAGE_PHASES = ("L1-N", "L2-N", "L3-N")
# The measurand items with a phase suffix this meter can report ("Where applicable, the Measurand is combined
# with the optional phase", OCPP 1.6 §9.1.17): the phases a measurand is measured on, and "Voltage.L1" for the
# L1-N voltage. Any other suffix would be an item with no sampledValue, so the configuration refuses it
# (OCPP 1.6 §3.16.4).
PHASED_ITEMS: frozenset[str] = frozenset(
    {f"{m}.{p}" for m in ("Current.Import", "Current.Export") for p in _PHASES}
    | {f"Voltage.{p}" for p in (*_PHASES, *_VOLTAGE_PHASES)}
)


def _fmt(value: float, digits: int = 1) -> str:
    if digits == 0:
        # Whole Wh counted, not rounded: the register then reads as meterStart / meterStop do (int Wh), so a
        # reading never goes backwards from a MeterValues to the StopTransaction (errata v4.0 3.9).
        return str(math.floor(value))
    return f"{value:.{digits}f}"


def _scalar(
    unit: str | None, location: str, get: Callable[[MeterReading], float | None], digits: int
) -> Callable[[MeterReading], list[tuple[str | None, str | None, str, str]]]:
    def read(r: MeterReading) -> list[tuple[str | None, str | None, str, str]]:
        value = get(r)
        return [] if value is None else [(None, unit, location, _fmt(value, digits))]

    return read


def _phased(
    unit: str, get: Callable[[MeterReading], tuple[float, ...]], names: tuple[str, ...]
) -> Callable[[MeterReading], list[tuple[str | None, str | None, str, str]]]:
    def read(r: MeterReading) -> list[tuple[str | None, str | None, str, str]]:
        return [(names[i], unit, "Outlet", _fmt(v)) for i, v in enumerate(get(r))]

    return read


# measurand -> reading -> [(phase, unit, location, value)]
_READERS: dict[str, Callable[[MeterReading], list[tuple[str | None, str | None, str, str]]]] = {
    "Energy.Active.Import.Register": _scalar("Wh", "Outlet", lambda r: r.energy_import_wh, 0),
    "Energy.Active.Export.Register": _scalar("Wh", "Outlet", lambda r: r.energy_export_wh, 0),
    "Power.Active.Import": _scalar("W", "Outlet", lambda r: r.power_import_w, 1),
    "Power.Active.Export": _scalar("W", "Outlet", lambda r: r.power_export_w, 1),
    "Power.Offered": _scalar("W", "Outlet", lambda r: r.power_offered_w, 1),
    "Current.Offered": _scalar("A", "Outlet", lambda r: r.current_offered_a, 1),
    "Current.Import": _phased("A", lambda r: r.current_import_a, _PHASES),
    "Current.Export": _phased("A", lambda r: r.current_export_a, _PHASES),
    "Voltage": _phased("V", lambda r: r.voltage_v, _VOLTAGE_PHASES),
    # Frequency has no UnitOfMeasure in 1.6: Hz is implied (OCPP 1.6 §7.31).
    "Frequency": _scalar(None, "Outlet", lambda r: r.frequency_hz, 2),
    # 'Celcius' is the spelling stations keep sending for interoperability (OCPP-J errata 2.1 (2025-04), which
    # supersedes the advice of OCPP-J errata 2.2 to send 'Celsius').
    "Temperature": _scalar("Celcius", "Body", lambda r: r.temperature_c, 1),
    "SoC": _scalar("Percent", "EV", lambda r: r.soc_percent, 1),
}


def _split(item: str) -> tuple[str | None, str | None]:
    if item in _READERS:
        return item, None
    name, _, phase = item.rpartition(".")
    return (name, phase) if name in _READERS else (None, None)


def sampled_values(reading: MeterReading, measurands: Iterable[str], context: str) -> list[SampledValue]:
    out: list[SampledValue] = []
    seen: set[tuple[str, str | None, str]] = set()
    for item in measurands:
        name, wanted_phase = _split(item)
        if name is None:
            continue
        for phase, unit, location, value in _READERS[name](reading):
            if wanted_phase and not (phase == wanted_phase or (phase or "").startswith(wanted_phase + "-")):
                continue
            if (name, phase, location) in seen:
                continue  # "Voltage" and "Voltage.L1" both configured: one L1-N value (OCTT TC_070)
            seen.add((name, phase, location))
            sv: SampledValue = {"value": value, "context": context, "measurand": name}
            if phase is not None:
                sv["phase"] = phase
            sv["location"] = location
            if unit:
                sv["unit"] = unit
            out.append(sv)
    return out


def meter_value(timestamp: str, values: list[SampledValue]) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": values}
