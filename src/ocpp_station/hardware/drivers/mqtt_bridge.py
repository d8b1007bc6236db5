"""The MQTT hardware bridge: every part of every connector, driven by another process over MQTT.

For hardware behind a microcontroller bridge, a vendor daemon or a script in another language. Topics sit
under `<prefix>/<station_id>/` (prefix default "ocpp-station"); payloads are JSON objects (docs/drivers.md):

inputs (the hardware publishes, the station subscribes)
    connector/<n>/plug    {"state": "A".."F"}                   control-pilot state (IEC 61851-1 Table A.3)
    connector/<n>/meter   {"energy_wh": 1234.5, "power_w": 7360, "current_a": [10, 10, 10],
                           "voltage_v": [230, 230, 230], "frequency_hz": 50.0}   (all but energy_wh optional)
    connector/<n>/fault   {"error_code": "GroundFailure", "info": "RCD tripped"}  (error_code null clears)
    rfid                  {"id_tag": "04A2B3C4", "connector": 1}  (connector optional)
outputs (the station publishes, QoS 1, retained, again after every reconnection)
    connector/<n>/contactor        {"allowed": true}
    connector/<n>/lock             {"locked": true}
    connector/<n>/offered_current  {"amps": 16.0, "duty_cycle_percent": 26.7}
    display                        {"text": "Present card"}

Options: host, port (1883), station_id, prefix, connectors (1), max_current_a (32), fixed_cable (true),
reconnect_min_s (0.5), reconnect_max_s (30), keepalive_s (10), max_power_w (100000).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiomqtt

from ocpp_station.hardware.composed import ComposedConnector, ComposedStation
from ocpp_station.hardware.drivers import Bridge, ConnectorParts
from ocpp_station.hardware.drivers.meter_health import HealthCheckedMeter, MeterHealth
from ocpp_station.hardware.drivers.options import Options
from ocpp_station.hardware.iec61851 import MIN_CURRENT_A, duty_cycle_for_current
from ocpp_station.hardware.interfaces import CHARGE_POINT_FAULT_CODES, ID_TAG_MAX_LENGTH, MeterReading
from ocpp_station.hardware.parts import (
    AuthTokenProvider,
    ConnectorLock,
    ControlPilotState,
    CpCallback,
    EvseBoard,
    Fault,
    FaultCallback,
    MeterPart,
    TokenCallback,
)

log = logging.getLogger(__name__)

LINK_FAULT = Fault("OtherError", "MQTT broker unreachable")
OUTPUTS = ("contactor", "lock", "offered_current")


class MqttBoard:
    """The `EvseBoard` part of one connector."""

    def __init__(self, bridge: MqttBridge, connector_id: int, max_current_a: float) -> None:
        self._bridge = bridge
        self._n = connector_id
        self._max_current_a = max_current_a
        self._cp = ControlPilotState.A
        self._own_fault: Fault | None = None
        self._link_up = False
        self._cp_callback: CpCallback | None = None
        self._fault_callback: FaultCallback | None = None

    @property
    def max_current_a(self) -> float:
        return self._max_current_a

    @property
    def min_current_a(self) -> float:
        return MIN_CURRENT_A  # the hardware behind the bridge codes the limit into the PWM

    @property
    def cp_state(self) -> ControlPilotState:
        return self._cp

    @property
    def fault(self) -> Fault | None:
        return self._own_fault or (None if self._link_up else LINK_FAULT)

    @property
    def temperature_c(self) -> float | None:
        return None

    def allow_power_on(self, allowed: bool) -> None:
        self._bridge.output(f"connector/{self._n}/contactor", {"allowed": allowed})

    def set_offered_current(self, amps: float) -> None:
        duty = duty_cycle_for_current(amps)
        self._bridge.output(
            f"connector/{self._n}/offered_current", {"amps": amps, "duty_cycle_percent": round(duty, 2)}
        )

    def set_cp_callback(self, callback: CpCallback) -> None:
        self._cp_callback = callback

    def set_fault_callback(self, callback: FaultCallback) -> None:
        self._fault_callback = callback

    def on_cp(self, state: ControlPilotState) -> None:
        if state != self._cp:
            self._cp = state
            if self._cp_callback is not None:
                self._cp_callback(state)

    def on_fault(self, fault: Fault | None) -> None:
        before = self.fault
        self._own_fault = fault
        self._fault_changed(before)

    def on_link(self, up: bool) -> None:
        before = self.fault
        self._link_up = up
        self._fault_changed(before)

    def _fault_changed(self, before: Fault | None) -> None:
        if self.fault != before and self._fault_callback is not None:
            self._fault_callback(self.fault)


class MqttLock:
    """The `ConnectorLock` part: the command is published; without a broker the lock fails."""

    def __init__(self, bridge: MqttBridge, connector_id: int) -> None:
        self._bridge = bridge
        self._n = connector_id
        self._locked = False

    @property
    def locked(self) -> bool:
        return self._locked

    def lock(self) -> bool:
        return self._set(True)

    def unlock(self) -> bool:
        return self._set(False)

    def _set(self, locked: bool) -> bool:
        if not self._bridge.connected:
            return False  # nobody would hear the command: ConnectorLockFailure / UnlockFailed
        self._locked = locked
        self._bridge.output(f"connector/{self._n}/lock", {"locked": locked})
        return True


class MqttMeter(HealthCheckedMeter):
    """The `MeterPart`: the latest plausible reading published by the hardware."""

    def __init__(self, label: str, max_power_w: float) -> None:
        self._health = MeterHealth(label, max_power_w, log)

    def on_values(self, payload: Mapping[str, Any]) -> None:
        energy = _number(payload, "energy_wh")
        if energy is None:
            raise ValueError("'energy_wh' is required")
        power = _number(payload, "power_w") or 0.0
        currents = _numbers(payload, "current_a")
        frequency = _number(payload, "frequency_hz")
        reading = MeterReading(
            timestamp=0.0,
            energy_import_wh=energy,
            energy_export_wh=0.0,
            power_import_w=max(power, 0.0),
            power_export_w=max(-power, 0.0),
            current_import_a=currents,
            current_export_a=(0.0,) * len(currents),
            current_offered_a=0.0,
            power_offered_w=0.0,
            voltage_v=_numbers(payload, "voltage_v"),
            frequency_hz=math.nan if frequency is None else frequency,
            soc_percent=None,
            temperature_c=math.nan,
        )
        self._health.offer(reading, time.monotonic())


class MqttTokens:
    """The `AuthTokenProvider` part."""

    def __init__(self) -> None:
        self._callback: TokenCallback | None = None

    def set_token_callback(self, callback: TokenCallback) -> None:
        self._callback = callback

    def on_token(self, id_tag: str, connector_id: int | None) -> None:
        if self._callback is not None:
            self._callback(id_tag, connector_id)


class MqttBridge:
    """One broker connection serving the parts of `connectors` connectors (a `bridge` driver)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        station_id: str,
        prefix: str = "ocpp-station",
        connectors: int = 1,
        max_current_a: float = 32.0,
        fixed_cable: bool = True,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        keepalive_s: int = 10,
        max_power_w: float = 100_000.0,
    ) -> None:
        self._host = host
        self._port = port
        self._station_id = station_id
        self.base = f"{prefix}/{station_id}"
        self._reconnect = (reconnect_min_s, reconnect_max_s)
        self._keepalive_s = keepalive_s
        self.boards = tuple(MqttBoard(self, n, max_current_a) for n in range(1, connectors + 1))
        self.meters = tuple(
            MqttMeter(f"meter of connector {n} via MQTT", max_power_w) for n in range(1, connectors + 1)
        )
        self.locks = None if fixed_cable else tuple(MqttLock(self, n) for n in range(1, connectors + 1))
        self.tokens = MqttTokens()
        self._outputs: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._connected = False
        self._announced = False
        self._task: asyncio.Task[None] | None = None

    # -- parts ------------------------------------------------------------------------------------------

    def station(self) -> ComposedStation:
        """A `StationHardware` of this bridge's parts (build it once: it takes the parts' callbacks)."""
        connectors = [
            ComposedConnector(
                n, self.boards[n - 1], self.meters[n - 1], None if self.locks is None else self.locks[n - 1]
            )
            for n in range(1, len(self.boards) + 1)
        ]
        return ComposedStation(connectors, self.tokens)

    def connector_parts(self, connector_id: int) -> ConnectorParts:
        if not 1 <= connector_id <= len(self.boards):
            raise ValueError(f"serves connectors 1..{len(self.boards)}, not connector {connector_id}")
        n = connector_id - 1
        return ConnectorParts(self.boards[n], self.meters[n], None if self.locks is None else self.locks[n])

    def token_provider(self) -> AuthTokenProvider:
        return self.tokens

    @property
    def connected(self) -> bool:
        return self._connected

    def show_text(self, text: str) -> None:
        self.output("display", {"text": text})

    def output(self, topic: str, payload: Mapping[str, Any]) -> None:
        """Publish `payload` on `<base>/<topic>` now or as soon as the broker is back (latest value wins)."""
        self._outputs[topic] = json.dumps(payload, separators=(",", ":")).encode()
        self._dirty.add(topic)
        self._wake.set()

    # -- Driver -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"mqtt bridge {self.base}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_link(False, "stopped", quiet=True)

    # -- the connection ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        low, high = self._reconnect
        delay = low
        while True:
            try:
                async with aiomqtt.Client(
                    self._host, self._port, identifier=f"ocpp-station-{self._station_id}", keepalive=self._keepalive_s
                ) as client:
                    await client.subscribe(f"{self.base}/#", qos=1)
                    self._dirty.update(self._outputs)  # the broker may have restarted without our retained state
                    self._wake.set()
                    self._set_link(True, "")
                    delay = low
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                self._set_link(False, str(exc) or type(exc).__name__)
            await asyncio.sleep(delay)  # capped exponential back-off between attempts
            delay = min(delay * 2, high)

    async def _serve(self, client: aiomqtt.Client) -> None:
        tasks = {asyncio.create_task(self._read(client)), asyncio.create_task(self._write(client))}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()
        raise aiomqtt.MqttError("the broker closed the connection")

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            self.on_message(str(message.topic), payload if isinstance(payload, bytes) else str(payload).encode())

    async def _write(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                topic = self._dirty.pop()
                try:
                    await client.publish(f"{self.base}/{topic}", self._outputs[topic], qos=1, retain=True)
                except BaseException:
                    self._dirty.add(topic)  # not delivered: sent again after reconnecting
                    raise

    def _set_link(self, up: bool, why: str, *, quiet: bool = False) -> None:
        changed = up != self._connected
        if not changed and self._announced:
            return
        self._announced = True
        self._connected = up
        where = f"{self._host}:{self._port}"
        if quiet:
            pass
        elif up:
            log.info("mqtt bridge %s: connected to the broker at %s", self.base, where)
        else:
            log.warning(
                "mqtt bridge %s: broker at %s unreachable (%s); connectors faulted, retrying", self.base, where, why
            )
        for board in self.boards:
            board.on_link(up)

    # -- inputs -----------------------------------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        """One inbound message; anything wrong with it costs one log line and nothing else."""
        if not topic.startswith(self.base + "/"):
            log.warning("mqtt bridge %s: ignoring message on foreign topic %s", self.base, topic)
            return
        parts = topic[len(self.base) + 1 :].split("/")
        if parts == ["display"] or (len(parts) == 3 and parts[0] == "connector" and parts[2] in OUTPUTS):
            return  # our own outputs, echoed by the subscription
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if parts == ["rfid"]:
                self._on_rfid(data)
                return
            if len(parts) != 3 or parts[0] != "connector" or parts[2] not in ("plug", "meter", "fault"):
                log.warning("mqtt bridge %s: ignoring message on unknown topic %s", self.base, topic)
                return
            n = self._connector(parts[1])
            if parts[2] == "plug":
                self.boards[n - 1].on_cp(ControlPilotState(data["state"]))
            elif parts[2] == "meter":
                self.meters[n - 1].on_values(data)
            else:
                self.boards[n - 1].on_fault(_fault(data))
        except (ValueError, KeyError, TypeError) as exc:
            reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            log.warning("mqtt bridge %s: malformed payload on %s: %s", self.base, topic, reason[:200])

    def _connector(self, text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= len(self.boards):
            raise ValueError(f"no connector {text!r} (1..{len(self.boards)})")
        return int(text)

    def _on_rfid(self, data: Mapping[str, Any]) -> None:
        id_tag = data["id_tag"]
        if not isinstance(id_tag, str) or not 1 <= len(id_tag) <= ID_TAG_MAX_LENGTH:
            raise ValueError(f"id_tag must be a string of 1..{ID_TAG_MAX_LENGTH} characters (IdToken, §7.24)")
        connector = data.get("connector")
        if connector is not None:
            connector = self._connector(str(connector))
        self.tokens.on_token(id_tag, connector)


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key!r} must be a number")
    return float(value)


def _numbers(data: Mapping[str, Any], key: str) -> tuple[float, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > 3:
        raise ValueError(f"{key!r} must be a list of up to 3 numbers (L1..L3)")
    return tuple(_number({key: v}, key) or 0.0 for v in value)


def _fault(data: Mapping[str, Any]) -> Fault | None:
    code = data["error_code"]
    if code is None:
        return None
    if code not in CHARGE_POINT_FAULT_CODES:
        raise ValueError(f"error_code {code!r} is not an OCPP ChargePointErrorCode other than NoError")
    info = data.get("info")
    if info is not None and not isinstance(info, str):
        raise ValueError("info must be a string")
    return Fault(code, None if info is None else info[:50])


def create(options: Mapping[str, Any]) -> MqttBridge:
    """The `bridge.mqtt` entry point."""
    opts = Options(options)
    bridge = MqttBridge(
        host=opts.string("host"),
        port=opts.integer("port", 1883, low=1, high=65535),
        station_id=opts.string("station_id"),
        prefix=opts.string("prefix", "ocpp-station"),
        connectors=opts.integer("connectors", 1, low=1, high=64),
        max_current_a=opts.number("max_current_a", 32.0, low=6.0, high=80.0),
        fixed_cable=opts.boolean("fixed_cable", True),
        reconnect_min_s=opts.number("reconnect_min_s", 0.5, low=0.01),
        reconnect_max_s=opts.number("reconnect_max_s", 30.0, low=0.01),
        keepalive_s=opts.integer("keepalive_s", 10, low=1, high=3600),
        max_power_w=opts.number("max_power_w", 100_000.0, low=1.0),
    )
    opts.finish()
    return bridge


if TYPE_CHECKING:

    def _conforms(
        board: MqttBoard, meter: MqttMeter, lock: MqttLock, tokens: MqttTokens, bridge: MqttBridge
    ) -> tuple[EvseBoard, MeterPart, ConnectorLock, AuthTokenProvider, Bridge]:
        return board, meter, lock, tokens, bridge
