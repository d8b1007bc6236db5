"""Modbus register maps as data: which register holds which measurand, its type, scale and word order.

A map is a TOML file (the built-in ones are in `register_maps/`):

    name = "Eastron SDM630"
    function = "input"              # "input" (function code 04) or "holding" (03)
    word_order = "big"              # "big": the high word first (Modbus's own byte order is always big)
    max_registers_per_read = 60
    [registers]
    energy_import_wh = { address = 0x0048, type = "float32", scale = 1000.0 }   # kWh on the wire

A value is `raw × scale` in the unit the field name ends with. Fields: see `FIELDS`.
"""

from __future__ import annotations

import math
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ocpp_station.hardware.drivers.options import DriverError

# field -> what it is (OCPP measurand it feeds)
FIELDS: dict[str, str] = {
    "energy_import_wh": "Energy.Active.Import.Register (required)",
    "energy_export_wh": "Energy.Active.Export.Register",
    "power_w": "Power.Active.Import (> 0) / Power.Active.Export (< 0), the signed total",
    "current_l1_a": "Current.Import L1",
    "current_l2_a": "Current.Import L2",
    "current_l3_a": "Current.Import L3",
    "voltage_l1_v": "Voltage L1-N",
    "voltage_l2_v": "Voltage L2-N",
    "voltage_l3_v": "Voltage L3-N",
    "frequency_hz": "Frequency",
}
# type -> (struct format, registers)
TYPES: dict[str, tuple[str, int]] = {
    "int16": (">h", 1),
    "uint16": (">H", 1),
    "int32": (">i", 2),
    "uint32": (">I", 2),
    "int64": (">q", 4),
    "uint64": (">Q", 4),
    "float32": (">f", 2),
    "float64": (">d", 4),
}
FUNCTIONS = ("input", "holding")
WORD_ORDERS = ("big", "little")
MAX_REGISTERS_PER_READ = 125  # Modbus Application Protocol v1.1b §6.3/6.4: at most 125 registers a request


@dataclass(frozen=True, slots=True)
class Register:
    address: int
    type: str
    scale: float
    word_order: str

    @property
    def count(self) -> int:
        return TYPES[self.type][1]

    def decode(self, words: Sequence[int]) -> float:
        if self.word_order == "little":
            words = list(reversed(words))
        raw = struct.unpack(TYPES[self.type][0], b"".join(w.to_bytes(2, "big") for w in words))[0]
        return float(raw) * self.scale

    def encode(self, value: float) -> list[int]:
        """The words a meter would serve for `value` (what the tests' meters serve)."""
        fmt, _ = TYPES[self.type]
        raw = value / self.scale
        data = struct.pack(fmt, raw if fmt[-1] in "fd" else round(raw))
        words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        return list(reversed(words)) if self.word_order == "little" else words


@dataclass(frozen=True, slots=True)
class RegisterMap:
    name: str
    function: str
    registers: Mapping[str, Register]
    max_registers_per_read: int

    def blocks(self) -> list[tuple[int, int]]:
        """(start, count) reads covering every register, as few as the per-read limit allows."""
        spans = sorted((r.address, r.address + r.count) for r in self.registers.values())
        blocks: list[tuple[int, int]] = []
        for start, end in spans:
            if blocks and end - blocks[-1][0] <= self.max_registers_per_read:
                first, count = blocks[-1]
                blocks[-1] = (first, max(count, end - first))
            else:
                blocks.append((start, end - start))
        return blocks

    def decode(self, words: Mapping[int, int]) -> dict[str, float]:
        """Field values from the words read (address -> word)."""
        return {
            name: reg.decode([words[reg.address + i] for i in range(reg.count)]) for name, reg in self.registers.items()
        }


def builtin_maps() -> list[str]:
    folder = resources.files(__package__).joinpath("register_maps")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_register_map(spec: str) -> RegisterMap:
    """A built-in map by name (e.g. "eastron_sdm630") or a user map by path (anything with / or .toml)."""
    if "/" in spec or spec.endswith(".toml"):
        path = Path(spec)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DriverError(f"register map {spec}: {exc.strerror or exc}") from exc
    else:
        if spec not in builtin_maps():
            raise DriverError(f"unknown register map {spec!r} (built in: {', '.join(builtin_maps())}; or a .toml path)")
        text = resources.files(__package__).joinpath("register_maps", f"{spec}.toml").read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DriverError(f"register map {spec}: {exc}") from exc
    try:
        return parse_register_map(data)
    except DriverError as exc:
        raise DriverError(f"register map {spec}: {exc}") from exc


def parse_register_map(data: Mapping[str, Any]) -> RegisterMap:
    unknown = set(data) - {"name", "function", "word_order", "max_registers_per_read", "registers"}
    if unknown:
        raise DriverError(f"unknown key {sorted(unknown)[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise DriverError("'name' must be a non-empty string")
    function = data.get("function", "input")
    if function not in FUNCTIONS:
        raise DriverError(f"'function' must be one of {', '.join(FUNCTIONS)}, got {function!r}")
    word_order = data.get("word_order", "big")
    if word_order not in WORD_ORDERS:
        raise DriverError(f"'word_order' must be one of {', '.join(WORD_ORDERS)}, got {word_order!r}")
    per_read = data.get("max_registers_per_read", MAX_REGISTERS_PER_READ)
    if isinstance(per_read, bool) or not isinstance(per_read, int) or not 4 <= per_read <= MAX_REGISTERS_PER_READ:
        raise DriverError(f"'max_registers_per_read' must be an integer in 4..{MAX_REGISTERS_PER_READ}")
    raw_registers = data.get("registers")
    if not isinstance(raw_registers, dict) or not raw_registers:
        raise DriverError("[registers] must be a table of fields")
    registers = {field: _register(field, raw, word_order) for field, raw in raw_registers.items()}
    if "energy_import_wh" not in registers:
        raise DriverError("[registers] needs energy_import_wh (Energy.Active.Import.Register)")
    return RegisterMap(name, function, registers, per_read)


def _register(field: str, raw: Any, default_word_order: str) -> Register:
    if field not in FIELDS:
        raise DriverError(f"unknown field registers.{field} (known: {', '.join(FIELDS)})")
    if not isinstance(raw, dict):
        raise DriverError(f"registers.{field} must be a table {{ address = ..., type = ... }}")
    unknown = set(raw) - {"address", "type", "scale", "word_order"}
    if unknown:
        raise DriverError(f"unknown key registers.{field}.{sorted(unknown)[0]}")
    address = raw.get("address")
    if isinstance(address, bool) or not isinstance(address, int) or not 0 <= address <= 0xFFFF:
        raise DriverError(f"registers.{field}.address must be an integer in 0..0xFFFF, got {address!r}")
    type_ = raw.get("type")
    if type_ not in TYPES:
        raise DriverError(f"registers.{field}.type must be one of {', '.join(TYPES)}, got {type_!r}")
    scale = raw.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale == 0:
        raise DriverError(f"registers.{field}.scale must be a non-zero number, got {scale!r}")
    word_order = raw.get("word_order", default_word_order)
    if word_order not in WORD_ORDERS:
        raise DriverError(f"registers.{field}.word_order must be one of {', '.join(WORD_ORDERS)}")
    if address + TYPES[type_][1] > 0x10000:
        raise DriverError(f"registers.{field} runs past register 0xFFFF")
    return Register(address, type_, float(scale), word_order)
