"""The official OCPP 1.6 JSON schemas (shipped in the `ocpp` package), loaded once per process.

Validation maps a schema failure to an OCPP-J 1.6 CallError code (OCPP-J 1.6 §4.2.3 defines the codes, not which
one a schema failure gets: this mapping is our choice; for a missing property ProtocolError and
OccurenceConstraintViolation are both defensible, we use the former):
missing property → ProtocolError; wrong JSON type or too-long string → TypeConstraintViolation;
bad enum / out-of-range value → PropertyConstraintViolation; extra property or other structural
error → FormationViolation.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from ocpp_station.clock import parse_iso
from ocpp_station.protocol.rpc import ErrorCode

_SCHEMA_PACKAGE = "ocpp.v16.schemas"

# OCPP 1.6 §3.3 with errata v4.0 3.2: which profile each CS→CP action belongs to.
CS_TO_CP_ACTIONS: dict[str, str] = {
    "ChangeAvailability": "Core",
    "ChangeConfiguration": "Core",
    "ClearCache": "Core",
    "DataTransfer": "Core",
    "GetConfiguration": "Core",
    "RemoteStartTransaction": "Core",
    "RemoteStopTransaction": "Core",
    "Reset": "Core",
    "UnlockConnector": "Core",
    "GetDiagnostics": "FirmwareManagement",
    "UpdateFirmware": "FirmwareManagement",
    "GetLocalListVersion": "LocalAuthListManagement",
    "SendLocalList": "LocalAuthListManagement",
    "CancelReservation": "Reservation",
    "ReserveNow": "Reservation",
    "ClearChargingProfile": "SmartCharging",
    "GetCompositeSchedule": "SmartCharging",
    "SetChargingProfile": "SmartCharging",
    "TriggerMessage": "RemoteTrigger",
}

CP_TO_CS_ACTIONS: frozenset[str] = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    }
)

# Security whitepaper (edition 3) §5, Central System → Charge Point: the station's Security profile handles them.
SECURITY_ACTIONS: frozenset[str] = frozenset(
    {
        "CertificateSigned",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetInstalledCertificateIds",
        "GetLog",
        "InstallCertificate",
        "SignedUpdateFirmware",
    }
)

# Security whitepaper §5, Charge Point → Central System.
SECURITY_CP_TO_CS_ACTIONS: frozenset[str] = frozenset(
    {
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
    }
)


class SchemaViolation(Exception):
    def __init__(self, code: ErrorCode, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


# ISO 8601 date and time (OCPP 1.6 §3.14; offsets and fractions accepted, a missing offset read as UTC).
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?")
_REQUEST_FORMATS = FormatChecker(formats=())


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type check reports it
    if not _DATE_TIME.fullmatch(value):
        return False
    parse_iso(value)
    return True


_REQUEST_FORMATS.checks("date-time", raises=(ValueError, OverflowError))(_is_date_time)


@cache
def _validator(name: str) -> Draft4Validator:
    text = resources.files(_SCHEMA_PACKAGE).joinpath(f"{name}.json").read_text(encoding="utf-8")
    # Decimal on both sides so that multipleOf 0.1 (limit, minChargingRate in the official schemas; one decimal,
    # OCPP 1.6 §7.13–7.14) is exact: with floats 21.4 would fail it, hence `ocpp` 2.1.0 validates with Decimal too.
    schema = json.loads(text, parse_float=Decimal)
    # Requests get their date-times checked, so that a bad one is a PropertyConstraintViolation whatever the
    # handler (fuzzing found handlers answering CallResult before looking at the date). Responses are not:
    # a CSMS's unreadable currentTime must not make its BootNotification.conf unusable.
    formats = None if name.endswith("Response") else _REQUEST_FORMATS
    return Draft4Validator(schema, format_checker=formats)


def _code_for(error: ValidationError) -> ErrorCode:
    if error.validator == "required":
        return ErrorCode.PROTOCOL_ERROR
    if error.validator in ("type", "maxLength"):
        return ErrorCode.TYPE_CONSTRAINT_VIOLATION
    if error.validator in ("enum", "minimum", "maximum", "multipleOf", "format", "minLength"):
        return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    if error.validator in ("minItems", "maxItems"):
        return ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
    return ErrorCode.FORMATION_VIOLATION


# Payloads found valid, per schema: a fleet receives the same few responses thousands of times a second ({} for
# StatusNotification and MeterValues, the same currentTime for every Heartbeat of that second, the same idTagInfo),
# and validation is a pure function of (schema, payload). Only small valid payloads are kept (a SendLocalList chunk
# is not: 4 096 remembered megabyte frames would hold gigabytes), bounded by clearing.
_VALID: set[tuple[str, object]] = set()
_VALID_MAX = 4096
_MEMO_MAX_NODES = 64


class _TooBig(Exception):
    pass


def _freeze(value: Any, budget: list[int]) -> object:
    """A hashable image of a JSON value that tells apart what validation tells apart (True from 1, 1.0 from 1)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig
    if isinstance(value, dict):
        return (dict, tuple((k, _freeze(v, budget)) for k, v in value.items()))
    if isinstance(value, list):
        return (list, tuple(_freeze(v, budget) for v in value))
    if value is None or isinstance(value, (str, int, float, Decimal)):
        return (type(value), value)
    raise TypeError(type(value).__name__)


def _validate(name: str, payload: Any) -> None:
    try:
        key: tuple[str, object] | None = (name, _freeze(payload, [_MEMO_MAX_NODES]))
    except (TypeError, _TooBig):
        key = None  # not a JSON value (the validator says what is wrong with it), or too big to remember
    if key is not None and key in _VALID:
        return
    validator = _validator(name)
    if validator.is_valid(payload):
        # the common case, without collecting and ranking errors
        if key is not None:
            if len(_VALID) >= _VALID_MAX:
                _VALID.clear()
            _VALID.add(key)
        return
    error = next(iter(sorted(validator.iter_errors(payload), key=_error_rank)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        raise SchemaViolation(_code_for(error), f"{where}: {error.message}")


def _error_rank(error: ValidationError) -> tuple[int, int]:
    # Report the most telling error first: a missing field before a type error before the rest.
    order = {"required": 0, "type": 1}
    return (order.get(str(error.validator), 2), len(error.absolute_path))


def validate_request(action: str, payload: Any) -> None:
    _validate(action, payload)


def validate_response(action: str, payload: Any) -> None:
    _validate(f"{action}Response", payload)
