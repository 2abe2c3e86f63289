"""The OpenAPI document: FastAPI's, plus the batch body that the ingest handler reads itself.

The handler takes the raw request (it streams and caps the body), so FastAPI knows nothing of
its shape; the JSON Schema generated from `prtrace_core`'s models is added here, so the
document, `/docs` and any client or fuzzer built from it see what a batch is.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from prtrace_core.schema import PAYLOAD_MODELS, Batch

__all__ = ["BATCH_PATHS", "PrtraceAPI", "batch_components"]

# The ingest routes whose request body is a batch (/ingest is left out of the document).
BATCH_PATHS = ("/v1/batches", "/ingest")
# A lower-case UUID (prtrace_core.schema.UUID_RE), and a timestamp in the contract's form
# (UTC, milliseconds), in the regex dialect JSON Schema uses.
_UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_TS_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$"


def _add_pattern(schema: dict[str, Any], pattern: str) -> None:
    """The pattern on a string schema, or on the string branch of an `anyOf` (optional fields),
    unless the model already gives one."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch.setdefault("pattern", pattern)


def batch_components() -> dict[str, Any]:
    """The batch schema and the schemas it refers to, as OpenAPI components (`Batch` first),
    and each known event type's payload schema (`EditPayload`, …) beside them.

    The payloads are not tied to `type` by if/then, as docs/schema/batch.schema.json ties
    them: generators of requests from OpenAPI documents do not follow conditionals. The event
    description names them instead.
    """
    template = "#/components/schemas/{model}"
    batch = Batch.model_json_schema(ref_template=template)
    components: dict[str, Any] = {"Batch": batch, **batch.pop("$defs", {})}
    for model in PAYLOAD_MODELS.values():
        payload = model.model_json_schema(ref_template=template)
        components.update(payload.pop("$defs", {}))
        components[model.__name__] = payload
    # The models check these in validators, which JSON Schema cannot carry: say them here.
    for name, field, pattern in (
        ("Batch", "trace_id", _UUID_PATTERN),
        ("Event", "ts", _TS_PATTERN),
        ("PullRequest", "created_at", _TS_PATTERN),
        ("PullRequest", "merged_at", _TS_PATTERN),
    ):
        _add_pattern(components.get(name, {}).get("properties", {}).get(field, {}), pattern)
    event = components.get("Event")
    if event is not None:
        names = ", ".join(f"{kind}: {model.__name__}" for kind, model in PAYLOAD_MODELS.items())
        event["description"] = f"{event.get('description', '')} The payload of a known type follows its schema ({names})."
    return components


class PrtraceAPI(FastAPI):
    """FastAPI whose OpenAPI document describes the batch body."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema:
            return self.openapi_schema
        document = get_openapi(
            title=self.title,
            version=self.version,
            summary=self.summary,
            description=self.description,
            routes=self.routes,
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in batch_components().items():
            components.setdefault(name, schema)
        body = {"$ref": "#/components/schemas/Batch"}
        for path in BATCH_PATHS:
            operation = document.get("paths", {}).get(path, {}).get("post")
            if operation is not None:
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        self.openapi_schema = document
        return document
