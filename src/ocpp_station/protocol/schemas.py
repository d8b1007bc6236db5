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
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
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
def _schema(name: str) -> dict[str, Any]:
    text = resources.files(_SCHEMA_PACKAGE).joinpath(f"{name}.json").read_text(encoding="utf-8")
    # Decimal on both sides so that multipleOf 0.1 (limit, minChargingRate in the official schemas; one decimal,
    # OCPP 1.6 §7.13–7.14) is exact: with floats 21.4 would fail it, hence `ocpp` 2.1.0 validates with Decimal too.
    schema: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return schema


@cache
def _validator(name: str) -> Draft4Validator:
    schema = _schema(name)
    # Requests get their date-times checked, so that a bad one is a PropertyConstraintViolation whatever the
    # handler (fuzzing found handlers answering CallResult before looking at the date). Responses are not:
    # a CSMS's unreadable currentTime must not make its BootNotification.conf unusable.
    formats = None if name.endswith("Response") else _REQUEST_FORMATS
    return Draft4Validator(schema, format_checker=formats)


def _uses_multiple_of(schema: object) -> bool:
    if isinstance(schema, dict):
        return "multipleOf" in schema or any(_uses_multiple_of(v) for v in schema.values())
    return isinstance(schema, list) and any(_uses_multiple_of(v) for v in schema)


FastValidator = Callable[[Any], object]


@cache
def _fast_validator(name: str) -> FastValidator | None:
    """The schema compiled to Python by fastjsonschema: about ten times faster than jsonschema on a valid payload.

    It only ever says "valid": whatever it refuses or chokes on goes to jsonschema, whose verdict and first error
    decide the answer, so the two can only differ in speed. Schemas with multipleOf are left to jsonschema
    (fastjsonschema divides by a float, which a Decimal value refuses).
    """
    schema = _schema(name)
    if _uses_multiple_of(schema):
        return None
    if name.endswith("Response"):
        return fastjsonschema.compile(schema, use_formats=False)  # as _validator: responses' dates are not checked
    return fastjsonschema.compile(schema, formats={"date-time": _is_date_time})


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


def _validate(name: str, payload: Any) -> None:
    fast = _fast_validator(name)
    if fast is not None:
        try:
            fast(payload)
            return
        except Exception:  # not a verdict: jsonschema gives that, and the error
            pass
    validator = _validator(name)
    if validator.is_valid(payload):
        return  # without collecting and ranking errors
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
