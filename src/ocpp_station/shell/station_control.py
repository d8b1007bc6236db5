"""The control API's `ControlledStation` over a station and its hardware's simulator controls.

The HTTP status a refusal carries is decided here, in the shell: the station raises `NoSuchConnector`, the
simulated hardware `ValueError` for what its state does not allow, and real hardware has no controls at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp_station.hardware.interfaces import SimulatorControls
from ocpp_station.shell.control import ControlError
from ocpp_station.station.contract import NoSuchConnector
from ocpp_station.station.hub import Station


class StationControl:
    """Implements `ControlledStation`; subclasses say where the current station, controls and network are."""

    def current_station(self) -> Station:
        raise NotImplementedError

    def simulator_controls(self) -> SimulatorControls | None:
        raise NotImplementedError

    def set_network(self, online: bool) -> None:
        raise NotImplementedError

    @property
    def charge_box_id(self) -> str:
        return self.current_station().charge_box_id

    def state(self) -> dict[str, Any]:
        return self.current_station().state()

    def _controls(self, connector_id: int | None) -> SimulatorControls:
        station = self.current_station()
        if connector_id:
            try:
                station.connector(connector_id)
            except NoSuchConnector as exc:
                raise ControlError(404, str(exc)) from None
        controls = self.simulator_controls()
        if controls is None:
            raise ControlError(409, "this station runs real hardware: it cannot be operated through the API")
        return controls

    @staticmethod
    def _refusable(action: Callable[[], None]) -> None:
        try:
            action()
        except ValueError as exc:  # what the hardware's state does not allow
            raise ControlError(409, str(exc)) from None

    def _now(self) -> float:
        return self.current_station().now()

    def plug(self, connector_id: int) -> None:
        controls = self._controls(connector_id)
        self._refusable(lambda: controls.plug(self._now(), connector_id))

    def unplug(self, connector_id: int, side: str = "both") -> None:
        controls = self._controls(connector_id)
        self._refusable(lambda: controls.unplug(self._now(), connector_id, side))

    def present_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        controls = self._controls(connector_id)
        self._refusable(lambda: controls.present_id_tag(id_tag, connector_id))

    def set_online(self, online: bool) -> None:
        self.current_station()  # refuses while the station is not running
        self.set_network(online)

    def set_fault(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        controls = self._controls(connector_id)
        self._refusable(lambda: controls.set_fault(connector_id, error_code, info))

    def set_lock_failure(self, connector_id: int, failing: bool) -> None:
        controls = self._controls(connector_id)
        self._refusable(lambda: controls.set_lock_failure(connector_id, failing))

    def set_unlock_failure(self, connector_id: int, failing: bool) -> None:
        controls = self._controls(connector_id)
        self._refusable(lambda: controls.set_unlock_failure(connector_id, failing))

    def set_ev_suspended(self, connector_id: int, suspended: bool) -> None:
        controls = self._controls(connector_id)
        self._refusable(lambda: controls.set_ev_suspended(self._now(), connector_id, suspended))

    def set_local_list_failure(self, failing: bool) -> None:
        """While failing, storing a SendLocalList update fails (answered Failed; OCTT TC_043_3)."""
        self.current_station().local_list.storage_failing = failing


class CoreControl(StationControl):
    """Control of a station driven without a link (tests of the core, fleets that drive the network themselves)."""

    def __init__(
        self,
        station: Station,
        controls: SimulatorControls | None,
        network: Callable[[bool], None] = lambda online: None,
    ) -> None:
        self._station = station
        self._simulator = controls
        self._network = network

    def current_station(self) -> Station:
        return self._station

    def simulator_controls(self) -> SimulatorControls | None:
        return self._simulator

    def set_network(self, online: bool) -> None:
        self._network(online)
