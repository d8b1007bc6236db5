"""A HardwareListener that records what the hardware reported, in order."""

from __future__ import annotations

from dataclasses import dataclass, field

Event = tuple[object, ...]


@dataclass
class RecordingListener:
    events: list[Event] = field(default_factory=list)

    def on_plug_changed(self, connector_id: int, plugged: bool) -> None:
        self.events.append(("plug", connector_id, plugged))

    def on_fault_changed(self, connector_id: int, error_code: str | None, info: str | None) -> None:
        self.events.append(("fault", connector_id, error_code, info))

    def on_ev_ready_changed(self, connector_id: int, ev_ready: bool) -> None:
        self.events.append(("ev_ready", connector_id, ev_ready))

    def on_id_tag(self, id_tag: str, connector_id: int | None) -> None:
        self.events.append(("id_tag", id_tag, connector_id))
