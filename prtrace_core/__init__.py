"""What the capture side and the server share: the event schema, canonical JSON, event ids,
redaction and the error base. No I/O lives here."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
