"""Logging of a running station: one line per event (text or JSON), a rotated OCPP message trace file per
station, and redaction of secrets everywhere.

- `configure_logging(json_lines=...)`: the process's console log. Text: ``<time> <LEVEL> <logger>: <message>``;
  JSON (`ocpp-station run --log-json`): one object per line, ``{"time", "level", "logger", "message"}`` plus
  ``"station"`` when the message names one (``"<chargeBoxId>: ..."``) and ``"exception"`` (the traceback in
  one string) when there is one.
- `station_trace_logger(data_dir, charge_box_id)`: every OCPP-J frame of that station, one line each, in
  ``<data-dir>/<chargeBoxId>.trace.log``, rotated by `RotatingFileHandler` (TRACE_MAX_BYTES × TRACE_BACKUPS).
  The frames do not go to the console.
- `redact(text)` / `RedactingFilter`: the AuthorizationKey (in ChangeConfiguration.req), HTTP Basic
  credentials (``Authorization: Basic ...``, e.g. in websockets' debug log of the handshake) and passwords
  in URLs (``ftp://user:pass@host``, ``ws://user:pass@host``) become ``***`` before any handler writes them
  (OCPP-J 1.6 §6.2.2 / errata 3.12 and the security whitepaper: the key is write-only).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

TRACE_MAX_BYTES = 10 * 1024 * 1024
TRACE_BACKUPS = 5
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"

_AUTHORIZATION_KEY = re.compile(
    r'("key"\s*:\s*"AuthorizationKey"\s*,\s*"value"\s*:\s*)"(?:[^"\\]|\\.)*"'
    r'|("value"\s*:\s*)"(?:[^"\\]|\\.)*"(\s*,\s*"key"\s*:\s*"AuthorizationKey")'
)
_BASIC = re.compile(r"(Basic\s+)[A-Za-z0-9+/=._~-]+", re.IGNORECASE)
# scheme://user:password@ — the password ends at the last '@' before the host (passwords may hold '@').
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@\"']*:)[^\s\"']*@(?=[^\s\"'@]*(?:[/\s\"']|$))")
_STATION = re.compile(r"^([^\s:]{1,100}): ")


def _mask_key(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f'{match.group(1)}"{MASK}"'
    return f'{match.group(2)}"{MASK}"{match.group(3)}'


def redact(text: str) -> str:
    """`text` without secrets (cheap when there is none: each pattern needs a literal marker first)."""
    if "AuthorizationKey" in text:
        text = _AUTHORIZATION_KEY.sub(_mask_key, text)
    if "asic" in text:
        text = _BASIC.sub(rf"\g<1>{MASK}", text)
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    return text


class RedactingFilter(logging.Filter):
    """Put on a handler: the record's message (and traceback text) is redacted before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (a traceback included, as one string)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        station = _STATION.match(message)
        if station is not None:
            entry["station"] = station.group(1)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (it may be replaced, e.g. by a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(*, json_lines: bool = False, level: int = logging.INFO) -> logging.Handler:
    """The console log of `ocpp-station` (stderr): one redacting handler on the root logger, replacing the
    one an earlier call installed; returns it (remove it to undo)."""
    handler = _Stderr()
    handler.set_name("ocpp-station-console")
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "ocpp-station-console":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def trace_path(data_dir: Path, charge_box_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", charge_box_id)
    return data_dir / f"{safe}.trace.log"


def station_trace_logger(
    data_dir: Path, charge_box_id: str, *, max_bytes: int = TRACE_MAX_BYTES, backups: int = TRACE_BACKUPS
) -> logging.Logger:
    """The OCPP message trace of one station: a rotated file under the data dir, not the console."""
    logger = logging.getLogger(f"ocpp_station.trace.{charge_box_id}")
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        trace_path(data_dir, charge_box_id), maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
