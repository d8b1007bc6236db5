"""What the link reports to its observers: every OCPP-J frame as it passes, plus the link's own events.

Observers (the web panel's frame log, the Prometheus counters) are plain callables run synchronously
in the link's task: they must be quick and must not raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

# "sent"/"received": a frame, `text` as on the wire. "timeout": an outbound CALL got no response within
# MessageTimeout (`text` = that CALL). "connected"/"disconnected": the WebSocket opened/closed (`text` empty).
FrameKind = Literal["sent", "received", "timeout", "connected", "disconnected"]


@dataclass(frozen=True, slots=True)
class FrameEvent:
    charge_box_id: str
    kind: FrameKind
    text: str = ""
    at: float = field(default_factory=time.time)  # wall clock, for display; durations use `monotonic`
    monotonic: float = field(default_factory=time.monotonic)


FrameObserver = Callable[[FrameEvent], None]
