"""The JSON Schema of a batch, generated from the models so the document never drifts."""

from __future__ import annotations

from typing import Any

from prtrace_core.schema import PAYLOAD_MODELS, Batch

__all__ = ["batch_json_schema"]


def batch_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of `POST /v1/batches`, with each known type's payload tied to it."""
    schema = Batch.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    rules = []
    for type_name, model in PAYLOAD_MODELS.items():
        sub = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        defs[model.__name__] = sub
        rules.append(
            {
                "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
                "then": {"properties": {"payload": {"$ref": f"#/$defs/{model.__name__}"}}},
            }
        )
    defs["Event"]["allOf"] = rules
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://prtrace.dev/schema/batch.schema.json"
    schema["title"] = "prtrace batch"
    return schema
