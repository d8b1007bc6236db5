"""Charging profiles and the composite schedule, as pure maths (OCPP 1.6 §3.13, §5.7, §7.8–7.14;
errata v4.0 3.29, 3.34; OCTT TC_066, TC_067, TC_072).

No station, no clock, no I/O: profiles are immutable values parsed from the OCPP payload, and every function
takes the instant(s) and the running transactions it needs.

Rules (OCPP 1.6 §3.13.2–3.13.3, §5.7; errata v4.0 3.29; where the spec is silent or sources disagree, our choice
follows OCTT: TC_072 for the fall back to a lower stackLevel, TC_066 against libocpp's fall back to TxDefault,
TC_067 for an Accepted composite at the hardware limit without profiles, and OCTT against errata v4.0 3.57 for
chargingSchedule.startSchedule):
* A profile is *valid* on [validFrom, validTo) and *active* where it is valid and its schedule runs: Absolute from
  startSchedule, Recurring (Daily/Weekly) from startSchedule + k × 24 h / 7 d (k ≥ 0, each recurrence cut at the
  recurrence length), Relative from the transaction start (no transaction: the start of the window asked for);
  a schedule runs for `duration` seconds (absent: for ever, or until the next recurrence).
* Within a stack of the same purpose the active profile with the highest stackLevel prevails; where it is not
  active the next lower level applies (OCTT TC_072).
* Transaction limit: while a TxProfile of the connector's running transaction is valid, the TxProfile stack alone
  decides (none of it active ⇒ unconstrained, no fall back to TxDefault: OCTT TC_066); otherwise the
  connector-specific TxDefaultProfile stack, then the connector-0 TxDefaultProfile stack.
* Connector limit = min(transaction limit, ChargePointMaxProfile, hardware maximum); connector 0 = the sum of the
  connectors' min(transaction limit, hardware maximum), capped by ChargePointMaxProfile.
* Units: A is per phase, W is total; W = A × voltage × numberPhases (default 3). Values are kept as integer tenths
  (limits have one decimal, multipleOf 0.1) and a conversion rounds down, so a reported or applied limit never
  exceeds the one that was set.

Internally times are integer milliseconds (exact arithmetic) and a piecewise-constant function over a window is
a *track*: parallel lists `times` (ascending, first = window start) and `values`, value i holding on
[times[i], times[i+1]). The composite is computed from the breakpoints of the tracks, never by sampling.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from ocpp_station.clock import parse_iso


class Purpose(StrEnum):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class ProfileError(ValueError):
    """A payload that cannot be read as a charging profile at all (unparsable date, bad number...)."""


UNITS = ("A", "W")
DEFAULT_PHASES = 3  # OCPP 1.6 §7.14: numberPhases absent ⇒ 3
RECURRENCE_MS = {Recurrency.DAILY: 86_400_000, Recurrency.WEEKLY: 604_800_000}

# A track value: key = tenths << 2 | phases (so that min() compares the limit first, then prefers fewer
# phases), INF = no constraint, None = not decided yet (a gap a lower level may fill).
Key = int
INF: Key = 1 << 62
_END = 1 << 62  # larger than any time in ms


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def to_decimal(value: Any) -> Decimal:
    """A JSON number as Decimal without rounding: Decimal stays, int is exact, a float by its shortest repr."""
    if isinstance(value, bool):
        raise ProfileError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    raise ProfileError(f"not a number: {value!r}")


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ProfileError(f"{name} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, (Decimal, float)) and value == int(value):
        return int(value)
    raise ProfileError(f"{name} is not an integer: {value!r}")


def _time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_iso(str(value))
    except ValueError:
        raise ProfileError(f"{name} is not a date-time: {value!r}") from None


# -- profiles --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_period: int  # seconds from the start of the schedule
    limit: Decimal  # A per phase or W total, one decimal
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    charging_rate_unit: str  # "A" | "W"
    periods: tuple[SchedulePeriod, ...]
    duration: int | None = None  # seconds
    start_schedule: float | None = None  # UTC POSIX seconds
    min_charging_rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    profile_id: int
    connector_id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: ChargingSchedule
    recurrency: Recurrency | None = None
    valid_from: float | None = None  # UTC POSIX seconds
    valid_to: float | None = None
    transaction_id: int | None = None
    # per (unit, voltage): (period starts in ms from the origin, keys, schedule length in ms or None)
    _converted: dict[tuple[str, Decimal], tuple[list[int], list[Key | None], int | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_payload(cls, connector_id: int, body: Mapping[str, Any]) -> ChargingProfile:
        """Read a csChargingProfiles / chargingProfile object (schema-valid or as stored)."""
        try:
            sched = body["chargingSchedule"]
            periods = tuple(
                SchedulePeriod(
                    _int(p["startPeriod"], "startPeriod"),
                    to_decimal(p["limit"]),
                    None if p.get("numberPhases") is None else _int(p["numberPhases"], "numberPhases"),
                )
                for p in sched["chargingSchedulePeriod"]
            )
            minimum = sched.get("minChargingRate")
            schedule = ChargingSchedule(
                str(sched["chargingRateUnit"]),
                periods,
                None if sched.get("duration") is None else _int(sched["duration"], "duration"),
                _time(sched.get("startSchedule"), "startSchedule"),
                None if minimum is None else to_decimal(minimum),
            )
            recurrency = body.get("recurrencyKind")
            tx_id = body.get("transactionId")
            return cls(
                profile_id=_int(body["chargingProfileId"], "chargingProfileId"),
                connector_id=connector_id,
                stack_level=_int(body["stackLevel"], "stackLevel"),
                purpose=Purpose(body["chargingProfilePurpose"]),
                kind=Kind(body["chargingProfileKind"]),
                schedule=schedule,
                recurrency=None if recurrency is None else Recurrency(recurrency),
                valid_from=_time(body.get("validFrom"), "validFrom"),
                valid_to=_time(body.get("validTo"), "validTo"),
                transaction_id=None if tx_id is None else _int(tx_id, "transactionId"),
            )
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise ProfileError(f"not a charging profile: {exc!r}") from None
        except ValueError as exc:  # unknown enum value
            raise ProfileError(str(exc)) from None

    def converted_cache_clear(self) -> None:
        self._converted.clear()

    def converted(self, unit: str, voltage: Decimal) -> tuple[list[int], list[Key | None], int | None]:
        """Period starts (ms, first 0, cut at the schedule length), their keys in `unit`, the length in ms."""
        cache_key = (unit, voltage)
        done = self._converted.get(cache_key)
        if done is not None:
            return done
        sched = self.schedule
        length = None if sched.duration is None else sched.duration * 1000
        if self.kind is Kind.RECURRING:
            recurrence = RECURRENCE_MS[self.recurrency or Recurrency.DAILY]
            length = recurrence if length is None else min(length, recurrence)
        starts: list[int] = []
        keys: list[Key | None] = []
        for p in sched.periods:
            start = p.start_period * 1000
            if length is not None and start >= length:
                break
            if not starts and start > 0:
                starts.append(0)
                keys.append(None)
            if starts and start <= starts[-1]:
                continue  # not ascending: keep the first (never accepted by SetChargingProfile)
            starts.append(start)
            keys.append(_key(p.limit, p.number_phases or DEFAULT_PHASES, sched.charging_rate_unit, unit, voltage))
        done = (starts, keys, length)
        self._converted[cache_key] = done
        return done


def _key(limit: Decimal, phases: int, from_unit: str, to_unit: str, voltage: Decimal) -> Key:
    tenths = limit * 10
    if from_unit == to_unit:
        value = int(tenths)  # exact for one decimal; toward zero = down for the non-negative limits that matter
    else:
        tenths = tenths * voltage * phases if to_unit == "W" else tenths / (voltage * phases)
        value = int(tenths.to_integral_value(rounding=ROUND_FLOOR))
    if value < 0:
        value = 0
    return value << 2 | (phases if 1 <= phases <= 3 else 1 if phases < 1 else 3)


def key_limit(key: Key) -> Decimal:
    return Decimal(key >> 2).scaleb(-1)


# -- the station around the profiles ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Electrical:
    """What the maths needs of the hardware: nominal voltage, phases, and the rating of each connector."""

    voltage_v: float = 230.0
    phases: int = 3
    max_current_a: float = 32.0  # per connector, per phase
    connectors: int = 2

    @property
    def voltage(self) -> Decimal:
        return to_decimal(float(self.voltage_v))

    def hardware_key(self, unit: str) -> Key:
        return _key(to_decimal(float(self.max_current_a)), self.phases, "A", unit, self.voltage)


@dataclass(frozen=True, slots=True)
class Transaction:
    """The transaction running on a connector: its start (UTC POSIX s) and the central system's id, once known."""

    start: float
    transaction_id: int | None = None


class Limit(NamedTuple):
    limit: Decimal
    number_phases: int


class CompositePeriod(NamedTuple):
    start_period: int  # whole seconds from the schedule start
    limit: Decimal
    number_phases: int


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    start: float  # UTC POSIX seconds
    duration: int
    unit: str
    periods: tuple[CompositePeriod, ...]


# -- profiles at one instant ---------------------------------------------------------------------------------------
class _Profiles:
    """The installed profiles sorted into the stacks the rules combine (highest stackLevel first)."""

    __slots__ = ("cpmax", "tx", "txdefault", "unit", "voltage")

    def __init__(self, profiles: Iterable[ChargingProfile], unit: str, voltage: Decimal) -> None:
        self.unit = unit
        self.voltage = voltage
        self.cpmax: list[ChargingProfile] = []
        self.txdefault: dict[int, list[ChargingProfile]] = {}
        self.tx: dict[int, list[ChargingProfile]] = {}
        for p in profiles:
            if p.purpose is Purpose.CHARGE_POINT_MAX:
                if p.connector_id == 0:
                    self.cpmax.append(p)
            elif p.purpose is Purpose.TX_DEFAULT:
                self.txdefault.setdefault(p.connector_id, []).append(p)
            elif p.connector_id > 0:
                self.tx.setdefault(p.connector_id, []).append(p)
        order = _precedence
        self.cpmax.sort(key=order)
        for stack in (*self.txdefault.values(), *self.tx.values()):
            stack.sort(key=order)

    def tx_profiles(self, connector_id: int, tx: Transaction | None) -> list[ChargingProfile]:
        if tx is None:
            return []
        return [
            p
            for p in self.tx.get(connector_id, ())
            if p.transaction_id is None or p.transaction_id == tx.transaction_id
        ]


def _precedence(p: ChargingProfile) -> tuple[int, int]:
    return (-p.stack_level, -p.profile_id)


def _valid(p: ChargingProfile, t: int) -> bool:
    return (p.valid_from is None or t >= _ms(p.valid_from)) and (p.valid_to is None or t < _ms(p.valid_to))


def _origin(p: ChargingProfile, anchor: int) -> int:
    if p.kind is Kind.RELATIVE or p.schedule.start_schedule is None:
        return anchor
    return _ms(p.schedule.start_schedule)


def _value_at(p: ChargingProfile, t: int, anchor: int, unit: str, voltage: Decimal) -> Key | None:
    if not _valid(p, t):
        return None
    starts, keys, length = p.converted(unit, voltage)
    origin = _origin(p, anchor)
    if p.kind is Kind.RECURRING:
        if t < origin:
            return None
        recurrence = RECURRENCE_MS[p.recurrency or Recurrency.DAILY]
        origin += (t - origin) // recurrence * recurrence
    offset = t - origin
    if offset < 0 or (length is not None and offset >= length) or not starts:
        return None
    return keys[bisect_right(starts, offset) - 1]


def _stack_at(stack: Sequence[ChargingProfile], t: int, anchor: int, ps: _Profiles) -> Key | None:
    for p in stack:
        value = _value_at(p, t, anchor, ps.unit, ps.voltage)
        if value is not None:
            return value
    return None


def _tx_at(ps: _Profiles, connector_id: int, t: int, tx: Transaction | None, anchor: int) -> Key:
    if tx is not None:
        anchor = _ms(tx.start)
        own = ps.tx_profiles(connector_id, tx)
        if any(_valid(p, t) for p in own):
            value = _stack_at(own, t, anchor, ps)
            return INF if value is None else value
    for stack in (ps.txdefault.get(connector_id, ()), ps.txdefault.get(0, ())):
        value = _stack_at(stack, t, anchor, ps)
        if value is not None:
            return value
    return INF


def _cpmax_at(ps: _Profiles, t: int, anchor: int) -> Key:
    value = _stack_at(ps.cpmax, t, anchor, ps)
    return INF if value is None else value


def _sum(a: Key, b: Key) -> Key:
    return ((a >> 2) + (b >> 2)) << 2 | max(a & 3, b & 3)


def limit_at(
    profiles: Iterable[ChargingProfile],
    connector_id: int,
    t: float,
    transaction_start: float | None = None,
    transaction_id: int | None = None,
    *,
    unit: str = "A",
    electrical: Electrical = Electrical(),
    transactions: Mapping[int, Transaction] | None = None,
    anchor: float | None = None,
) -> Limit:
    """The composite limit of `connector_id` at instant `t` (UTC POSIX s), in `unit`.

    For a connector > 0 the running transaction is (transaction_start, transaction_id), or taken from
    `transactions` when transaction_start is None; connector 0 uses `transactions` for every connector.
    Relative profiles of a connector without transaction start at `anchor` (default: `t`).
    """
    ps = _Profiles(profiles, unit, electrical.voltage)
    when = _ms(t)
    base = when if anchor is None else _ms(anchor)
    running = dict(transactions or {})
    if connector_id > 0 and transaction_start is not None:
        running[connector_id] = Transaction(transaction_start, transaction_id)
    hardware = electrical.hardware_key(unit)
    cpmax = _cpmax_at(ps, when, base)
    if connector_id == 0:
        total: Key | None = None
        for c in range(1, electrical.connectors + 1):
            value = min(_tx_at(ps, c, when, running.get(c), base), hardware)
            total = value if total is None else _sum(total, value)
        key = min(total if total is not None else 0, cpmax)
    else:
        key = min(_tx_at(ps, connector_id, when, running.get(connector_id), base), cpmax, hardware)
    return Limit(key_limit(key), key & 3)


def applied_limits(
    profiles: Iterable[ChargingProfile],
    t: float,
    transactions: Mapping[int, Transaction],
    *,
    electrical: Electrical = Electrical(),
) -> dict[int, Decimal]:
    """The current (A per phase) to offer on each connector with a running transaction at `t`.

    The ChargePointMaxProfile limit is for all connectors together (OCPP 1.6 §3.13.3), so it is shared among
    the connectors with a transaction: each gets at most its own limit, the rest is split equally (water filling).
    """
    ps = _Profiles(profiles, "A", electrical.voltage)
    when = _ms(t)
    hardware = electrical.hardware_key("A") >> 2
    demands = {c: min(_tx_at(ps, c, when, tx, when) >> 2, hardware) for c, tx in transactions.items()}
    cap = _cpmax_at(ps, when, when)
    shares: dict[int, int] = {}
    if cap == INF:
        shares = demands
    else:
        remaining = cap >> 2
        ordered = sorted(demands.items(), key=lambda item: item[1])
        for index, (c, demand) in enumerate(ordered):
            share = min(demand, remaining // (len(ordered) - index))
            shares[c] = share
            remaining -= share
    return {c: Decimal(tenths).scaleb(-1) for c, tenths in shares.items()}


# -- tracks over a window -------------------------------------------------------------------------------------------
Track = tuple[list[int], list[Key | None]]


def _profile_track(p: ChargingProfile, ws: int, we: int, anchor: int, unit: str, voltage: Decimal) -> Track:
    lo, hi = ws, we
    if p.valid_from is not None:
        lo = max(lo, _ms(p.valid_from))
    if p.valid_to is not None:
        hi = min(hi, _ms(p.valid_to))
    starts, keys, length = p.converted(unit, voltage)
    if lo >= hi or not starts or length == 0:
        return [ws], [None]
    origin = _origin(p, anchor)
    times: list[int]
    values: list[Key | None]
    if p.kind is Kind.RECURRING:
        recurrence = RECURRENCE_MS[p.recurrency or Recurrency.DAILY]
        assert length is not None
        if lo > origin:
            origin += (lo - origin) // recurrence * recurrence
        times, values = [], []
        cut = length < recurrence
        while origin < hi:
            times += [origin + s for s in starts]
            values += keys
            if cut:
                times.append(origin + length)
                values.append(None)
            origin += recurrence
    else:
        times = [origin + s for s in starts]
        values = list(keys)
        if length is not None:
            times.append(origin + length)
            values.append(None)
    i = bisect_right(times, lo) - 1
    first = values[i] if i >= 0 else None
    k = bisect_left(times, hi, i + 1)
    if lo == ws:
        out_t, out_v = [ws], [first]
    else:
        out_t, out_v = [ws, lo], [None, first]
    out_t += times[i + 1 : k]
    out_v += values[i + 1 : k]
    if hi < we:
        out_t.append(hi)
        out_v.append(None)
    return out_t, out_v


def _fill(result: Track, track: Track, we: int) -> Track:
    """`result` where it is decided, `track` in its gaps (decided runs are copied by slices)."""
    rt, rv = result
    gaps = [i for i, v in enumerate(rv) if v is None]
    if not gaps:
        return result
    tt, tv = track
    out_t: list[int] = []
    out_v: list[Key | None] = []
    n = len(rt)
    done = 0
    for i in gaps:
        if i > done:
            out_t += rt[done:i]
            out_v += rv[done:i]
        a = rt[i]
        b = rt[i + 1] if i + 1 < n else we
        j = bisect_right(tt, a) - 1
        out_t.append(a)
        out_v.append(tv[j])
        k = bisect_left(tt, b, j + 1)
        if k > j + 1:
            out_t += tt[j + 1 : k]
            out_v += tv[j + 1 : k]
        done = i + 1
    if done < n:
        out_t += rt[done:]
        out_v += rv[done:]
    return out_t, out_v


def _decided(track: Track, ceiling: Key = INF) -> tuple[list[int], list[Key]]:
    """Gaps become 'no constraint', and nothing exceeds `ceiling`."""
    return track[0], [ceiling if v is None or v > ceiling else v for v in track[1]]


def _cap(track: tuple[list[int], list[Key]], ceiling: Key) -> tuple[list[int], list[Key]]:
    return track[0], [v if v < ceiling else ceiling for v in track[1]]


def _merge(a: tuple[list[int], list[Key]], b: tuple[list[int], list[Key]], add: bool) -> tuple[list[int], list[Key]]:
    """Pointwise min (or, with `add`, sum) of two tracks over the same window, equal neighbours merged."""
    if not add:
        if len(b[0]) == 1:
            return _cap(a, b[1][0])
        if len(a[0]) == 1:
            return _cap(b, a[1][0])
    at, av = a
    bt, bv = b
    at = [*at, _END]  # sentinels: no bounds checks in the loop
    bt = [*bt, _END]
    out_t: list[int] = []
    out_v: list[Key] = []
    put_t = out_t.append
    put_v = out_v.append
    t = at[0]
    va, vb = av[0], bv[0]
    ta, tb = at[1], bt[1]
    i = j = 1
    last = -1
    while True:
        if add:
            pa, pb = va & 3, vb & 3
            v = ((va >> 2) + (vb >> 2)) << 2 | (pa if pa > pb else pb)
        else:
            v = va if va < vb else vb
        if v != last:
            put_t(t)
            put_v(v)
            last = v
        if ta < tb:
            t, va = ta, av[i]
            i += 1
            ta = at[i]
        elif tb < ta:
            t, vb = tb, bv[j]
            j += 1
            tb = bt[j]
        elif ta == _END:
            return out_t, out_v
        else:
            t, va, vb = ta, av[i], bv[j]
            i += 1
            j += 1
            ta, tb = at[i], bt[j]


class _Window:
    """Tracks of one window, with each profile's track computed at most once per anchor."""

    __slots__ = ("_cache", "ps", "we", "ws")

    def __init__(self, ps: _Profiles, ws: int, we: int) -> None:
        self.ps = ps
        self.ws = ws
        self.we = we
        self._cache: dict[tuple[int, int], Track] = {}

    def _track(self, p: ChargingProfile, anchor: int) -> Track:
        if p.kind is not Kind.RELATIVE and p.schedule.start_schedule is not None:
            anchor = 0  # the anchor does not matter: share the track
        key = (id(p), anchor)
        track = self._cache.get(key)
        if track is None:
            track = _profile_track(p, self.ws, self.we, anchor, self.ps.unit, self.ps.voltage)
            self._cache[key] = track
        return track

    def _stack(self, result: Track, stack: Sequence[ChargingProfile], anchor: int) -> Track:
        for p in stack:
            if None not in result[1]:
                break
            result = _fill(result, self._track(p, anchor), self.we)
        return result

    def tx(self, connector_id: int, tx: Transaction | None, ceiling: Key = INF) -> tuple[list[int], list[Key]]:
        ps = self.ps
        result: Track = ([self.ws], [None])
        anchor = self.ws
        if tx is not None:
            anchor = _ms(tx.start)
            own = ps.tx_profiles(connector_id, tx)
            if own:
                result = self._stack(result, own, anchor)
                result = _fill(result, self._validity(own), self.we)
        result = self._stack(result, ps.txdefault.get(connector_id, ()), anchor)
        result = self._stack(result, ps.txdefault.get(0, ()), anchor)
        return _decided(result, ceiling)

    def cpmax(self) -> tuple[list[int], list[Key]]:
        return _decided(self._stack(([self.ws], [None]), self.ps.cpmax, self.ws))

    def _validity(self, stack: Sequence[ChargingProfile]) -> Track:
        """INF where any of the profiles is valid (the TxProfile stack rules there), a gap elsewhere."""
        spans = _union(
            [
                (
                    self.ws if p.valid_from is None else max(self.ws, _ms(p.valid_from)),
                    self.we if p.valid_to is None else min(self.we, _ms(p.valid_to)),
                )
                for p in stack
            ]
        )
        times: list[int] = [self.ws]
        values: list[Key | None] = [None]
        for lo, hi in spans:
            if lo == times[-1]:
                values[-1] = INF
            else:
                times.append(lo)
                values.append(INF)
            if hi < self.we:
                times.append(hi)
                values.append(None)
        return times, values


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if lo >= hi:
            continue
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _connector_track(
    window: _Window, connector_id: int, transactions: Mapping[int, Transaction], electrical: Electrical
) -> tuple[list[int], list[Key]]:
    hardware = electrical.hardware_key(window.ps.unit)
    if connector_id == 0:
        total: tuple[list[int], list[Key]] = ([window.ws], [0])
        for c in range(1, electrical.connectors + 1):
            track = window.tx(c, transactions.get(c), hardware)
            total = track if c == 1 else _merge(total, track, add=True)
        return _merge(total, window.cpmax(), add=False)
    return _merge(window.tx(connector_id, transactions.get(connector_id), hardware), window.cpmax(), add=False)


def composite_schedule(
    profiles: Iterable[ChargingProfile],
    connector_id: int,
    start: float,
    duration: int,
    unit: str = "A",
    *,
    electrical: Electrical = Electrical(),
    transactions: Mapping[int, Transaction] | None = None,
) -> CompositeSchedule:
    """The composite schedule of `connector_id` from `start` (UTC POSIX s) for `duration` whole seconds.

    Period k covers the whole seconds [start + startPeriod_k, start + startPeriod_k+1): its limit is the one
    in force at each of those seconds (a change at a fractional second shows from the next whole one), and a
    new period starts only where the limit (or its number of phases) changes. `transactions` maps a
    connector to its running transaction; a connector without one is evaluated as if one started at `start`.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown charging rate unit {unit!r}")
    duration = max(0, duration)
    ws = _ms(start)
    we = ws + max(1, duration * 1000)
    window = _Window(_Profiles(profiles, unit, electrical.voltage), ws, we)
    times, values = _connector_track(window, connector_id, transactions or {}, electrical)
    starts: list[int] = []
    keys: list[Key] = []
    for t, v in zip(times, values, strict=True):
        offset = (t - ws + 999) // 1000  # the first whole second at which this value is in force
        if offset >= duration and offset > 0:
            break
        if starts and starts[-1] == offset:
            keys[-1] = v  # several changes within one second: the last one is what that second sees
            if len(keys) > 1 and keys[-2] == v:
                starts.pop()
                keys.pop()
        elif not keys or keys[-1] != v:
            starts.append(offset)
            keys.append(v)
    limits = {k: key_limit(k) for k in set(keys)}
    new = tuple.__new__  # CompositePeriod(...) without the per-period Python call
    periods = tuple([new(CompositePeriod, (s, limits[k], k & 3)) for s, k in zip(starts, keys, strict=True)])
    return CompositeSchedule(ws / 1000, duration, unit, periods)


def next_change(
    profiles: Iterable[ChargingProfile],
    t: float,
    transactions: Mapping[int, Transaction],
    *,
    electrical: Electrical = Electrical(),
    horizon: float = 60.0,
) -> float:
    """The first instant after `t` at which a limit behind `applied_limits` may change, at most t + horizon."""
    ws = _ms(t)
    we = ws + max(1, _ms(horizon))
    window = _Window(_Profiles(profiles, "A", electrical.voltage), ws, we)
    hardware = electrical.hardware_key("A")
    tracks = [window.tx(c, tx, hardware) for c, tx in transactions.items()]
    tracks.append(window.cpmax())
    best = we
    for times, values in tracks:
        for i in range(1, len(times)):
            if times[i] >= best:
                break
            if values[i] != values[i - 1]:
                best = times[i]
                break
    return best / 1000
