"""Checking one raw event: a reason with a code and the field it is about, or nothing.

A bad event never fails its batch, so the check returns a value instead of raising, and it
looks at the raw dict (the thing that is hashed and stored), not at a model's re-serialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

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


def check_event(raw: Any) -> Problem | None:
    """Validate an event dict and, for a known type, its payload. Unknown types pass as they are."""
    if not isinstance(raw, dict):
        return Problem("schema", f"event: must be an object, not {type(raw).__name__}")
    try:
        Event.model_validate(raw)
    except ValidationError as exc:
        return Problem("schema", _describe(exc, ""))
    model = PAYLOAD_MODELS.get(raw["type"])
    if model is not None:
        try:
            model.model_validate(raw["payload"])
        except ValidationError as exc:
            return Problem("schema", _describe(exc, "payload"))
    return None
