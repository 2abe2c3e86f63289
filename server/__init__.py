"""The prtrace server: ingest deduplicated batches, keep them in an index and an object store,
serve whole traces back."""

from __future__ import annotations

__all__: list[str] = []
