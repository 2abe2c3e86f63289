"""Checking one raw event: a reason with a code and the field it is about, or nothing.

A bad event never fails its batch, so the check returns a value instead of raising, and it
looks at the raw dict (the thing that is hashed and stored), not at a model's re-serialisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator

from prtrace_core.schema import PAYLOAD_MODELS, Event

__all__ = ["MAX_EVENT_BYTES", "Problem", "check_event"]

MAX_EVENT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one event was refused: a stable code and a message that names the field."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def _describe(exc: ValidationError, prefix: str) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    return f"{where}: {first['msg']}" if where else first["msg"]


@cache
def _fields_validator(model: type[BaseModel]) -> Callable[[Any], Any]:
    """`model.model_validate` without the model object: pydantic's own validator of the
    model's fields (the same checks, the same error locations and messages), built once.
    The check only needs the verdict, and building the model was a third of its cost."""
    schema = model.__pydantic_core_schema__
    if schema["type"] != "model":  # a model validator wraps it: validate the whole model
        return model.model_validate
    return SchemaValidator(schema["schema"], schema.get("config")).validate_python


def check_event(raw: Any) -> Problem | None:
    """Validate an event dict and, for a known type, its payload. Unknown types pass as they are."""
    if not isinstance(raw, dict):
        return Problem("schema", f"event: must be an object, not {type(raw).__name__}")
    try:
        _fields_validator(Event)(raw)
    except ValidationError as exc:
        return Problem("schema", _describe(exc, ""))
    model = PAYLOAD_MODELS.get(raw["type"])
    if model is not None:
        try:
            _fields_validator(model)(raw["payload"])
        except ValidationError as exc:
            return Problem("schema", _describe(exc, "payload"))
    return None
