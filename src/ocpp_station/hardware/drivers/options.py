"""Reading a driver's options (a TOML table) with one-line errors naming the option."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any


class DriverError(Exception):
    """A driver cannot be built or started: one line, naming the driver and the option."""


class Options:
    """Typed access to a driver's option table; `finish()` rejects the options nobody asked for."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if not isinstance(options, Mapping):
            raise DriverError(f"options must be a table, got {type(options).__name__}")
        self._options = options
        self._used: set[str] = set()

    def _get(self, key: str) -> Any:
        self._used.add(key)
        return self._options.get(key)

    def string(self, key: str, default: str | None = None, *, choices: Collection[str] | None = None) -> str:
        value = self._get(key)
        if value is None:
            if default is None:
                raise DriverError(f"missing option {key!r}")
            value = default
        if not isinstance(value, str) or not value:
            raise DriverError(f"option {key!r} must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise DriverError(f"option {key!r} must be one of {', '.join(sorted(choices))}, got {value!r}")
        return value

    def integer(self, key: str, default: int | None = None, *, low: int, high: int) -> int:
        value = self._get(key)
        if value is None:
            if default is None:
                raise DriverError(f"missing option {key!r}")
            value = default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise DriverError(f"option {key!r} must be an integer in {low}..{high}, got {value!r}")
        return value

    def number(self, key: str, default: float, *, low: float, high: float = math.inf) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            bounds = f">= {low:g}" if math.isinf(high) else f"in {low:g}..{high:g}"
            raise DriverError(f"option {key!r} must be a number {bounds}, got {value!r}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise DriverError(f"option {key!r} must be true or false, got {value!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self._options) - self._used)
        if unknown:
            raise DriverError(f"unknown option {unknown[0]!r} (known: {', '.join(sorted(self._used))})")
