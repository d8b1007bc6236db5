"""Checks an answer of the control API against the contract in openapi.json."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from ocpp_station.shell.api import load_openapi

OPENAPI = load_openapi()
PATH_PARAM = re.compile(r"\{[^}]+\}")


def resolve_ref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = OPENAPI
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema_validator(schema: dict[str, Any]) -> Draft202012Validator:
    # Embedding the components lets "#/components/..." references resolve against this root.
    return Draft202012Validator({"allOf": [schema], "components": OPENAPI["components"]})


def operation_for(method: str, path: str) -> dict[str, Any] | None:
    for template, item in OPENAPI["paths"].items():
        pattern = "^" + PATH_PARAM.sub("[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        if re.match(pattern, path) and method.lower() in item:
            operation: dict[str, Any] = item[method.lower()]
            return operation
    return None


def check_contract(method: str, path: str, status: int, body: Any) -> None:
    """The answer matches the schema openapi.json documents for this operation and status."""
    operation = operation_for(method, path)
    if operation is None:  # unknown route or method: the generic error document
        schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    else:
        responses = operation["responses"]
        response = resolve_ref(responses.get(str(status), responses["default"]))
        schema = response["content"]["application/json"]["schema"]
    errors = sorted(schema_validator(schema).iter_errors(body), key=str)
    assert not errors, f"{method} {path} → {status}: {errors[0].message}"
    if status >= 400:
        assert set(body) == {"error"} and body["error"] and "\n" not in body["error"]
