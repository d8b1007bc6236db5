"""Drives the station core directly, with a manual clock, the in-memory store and a scripted central system:
no sockets, no files, no event loop, so hours of station time run in milliseconds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, cast

from typing_extensions import TypeVar

from ocpp_station.assemble import assemble
from ocpp_station.clock import ManualClock, iso_utc
from ocpp_station.hardware.interfaces import SimulatorControls, StationHardware
from ocpp_station.hardware.simulated import SimulatedControls, SimulatedStation
from ocpp_station.protocol import schemas
from ocpp_station.protocol.rpc import Call, CallResult, Message
from ocpp_station.settings import StationSettings, parse_settings
from ocpp_station.station.ports import Store
from ocpp_station.stores.memory import MemoryStore

Responder = Callable[[str, dict[str, Any]], "dict[str, Any] | str"]

# The driver's hardware: a SimulatedStation unless the test brings its own (then whatever it brought).
HardwareT = TypeVar("HardwareT", bound=StationHardware, default=SimulatedStation)


class CoreDriver(Generic[HardwareT]):
    """One station core and a central system that answers the happy way unless told otherwise.

    A responder returns a payload, or the string "error" / "timeout" for a failed call.
    """

    def __init__(
        self,
        overrides: dict[str, str] | None = None,
        *,
        clock: ManualClock | None = None,
        hardware: HardwareT | None = None,
        settings: StationSettings | None = None,
        store: Store | None = None,
        controls: SimulatorControls | None = None,
    ) -> None:
        """`store`: pass the store of a driver that was closed to boot the same station again (a restart).
        `hardware` other than a SimulatedStation (e.g. built from drivers by `assemble.build_hardware`) comes
        with its own `controls`, if any part of it is simulated."""
        self.clock = clock or ManualClock()
        self.settings = settings or parse_settings({})
        self.store = store or MemoryStore()
        # Without `hardware`, HardwareT is its default, SimulatedStation.
        self.hardware: HardwareT = hardware or cast(HardwareT, SimulatedStation(2))
        self.station = assemble(
            charge_box_id="CP-TEST",
            settings=self.settings,
            store=self.store,
            hardware=self.hardware,
            clock=self.clock,
            config_overrides=overrides,
        )
        self.config = self.station.config
        # What the control API's buttons do.
        if controls is None and isinstance(self.hardware, SimulatedStation):
            controls = SimulatedControls(self.hardware)
        self._controls = controls
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.responders: dict[str, list[Responder]] = {}
        self.next_transaction_id = 1000
        self.station.start()

    # -- central system side ------------------------------------------------------------------------
    def respond(self, action: str, responder: Responder) -> None:
        """Answer the next `action` request with `responder` (one shot, queued in order)."""
        self.responders.setdefault(action, []).append(responder)

    def default_answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = iso_utc(self.clock.now())
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now, "interval": 60}
        if action == "Heartbeat":
            return {"currentTime": now}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            self.next_transaction_id += 1
            return {"transactionId": self.next_transaction_id, "idTagInfo": {"status": "Accepted"}}
        return {}

    def connect(self) -> None:
        self.station.on_connected()
        self.pump()

    def disconnect(self) -> None:
        self.station.on_disconnected()

    def pump(self) -> None:
        """Send everything the station wants to send now, answering each call in turn."""
        for _ in range(10_000):
            call = self.station.next_call()
            if call is None:
                return
            schemas.validate_request(call.action, call.payload)
            self.sent.append((call.action, call.payload))
            queue = self.responders.get(call.action)
            answer = queue.pop(0)(call.action, call.payload) if queue else None
            if answer is None:
                answer = self.default_answer(call.action, call.payload)
            if isinstance(answer, str):
                self.station.on_failure(call, answer)
            else:
                schemas.validate_response(call.action, answer)
                self.station.on_result(call, answer)
        raise AssertionError("the station keeps sending: runaway loop")

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer on the way and sending what it produces."""
        target = self.clock.monotonic() + seconds
        while True:
            deadline = self.station.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.advance(max(0.0, deadline - self.clock.monotonic()))
            self.station.tick()
            self.pump()
        self.clock.advance(target - self.clock.monotonic())
        self.station.tick()
        self.pump()

    def call(self, action: str, payload: dict[str, Any]) -> Message | None:
        """A CS→CP call: the answer, then whatever the station does after answering."""
        response = self.station.handle_call(Call("test-id", action, payload))
        self.station.after_response()
        self.pump()
        return response

    @property
    def controls(self) -> SimulatorControls:
        assert self._controls is not None, "this hardware has no simulated part to press"
        return self._controls

    def unplug(self, connector_id: int, side: str = "both") -> None:
        self.controls.unplug(self.clock.now(), connector_id, side)

    # -- what was sent ------------------------------------------------------------------------------
    # Hardware events wake the station; here, looking at what was sent is what lets it send.
    def actions(self) -> list[str]:
        self.pump()
        return [action for action, _ in self.sent]

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        self.pump()
        sent, self.sent = self.sent, []
        return sent

    def statuses(self, sent: list[tuple[str, dict[str, Any]]] | None = None) -> list[tuple[int, str]]:
        self.pump()
        return [
            (p["connectorId"], p["status"])
            for a, p in (self.sent if sent is None else sent)
            if a == "StatusNotification"
        ]

    def close(self) -> None:
        self.store.close()


def result(message: object) -> dict[str, Any]:
    """The payload of a CallResult (and a failed test for anything else)."""
    assert isinstance(message, CallResult), message
    return message.payload
