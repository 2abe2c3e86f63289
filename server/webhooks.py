"""`POST /v1/webhooks/github`: a delivery checked, applied once, and remembered.

The signature is checked on the raw bytes before anything is parsed. A delivery is
remembered (`X-GitHub-Delivery`) only after its effects are stored: a crash in between leaves
a redelivery to apply them again, which changes nothing, since every effect is idempotent.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from prtrace_core.redact import Redactor
from prtrace_core.timestamps import now_ts

from .blobs import BlobStore
from .bodies import parse_json
from .errors import BadBody, Unauthorized
from .github import CI_EVENTS, BadWebhook, ci_run, pull_request, signature_ok
from .index import IndexStore
from .linking import apply_ci_run, apply_pull_request, new_mark

__all__ = ["handle_delivery"]

_DELIVERY = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")


def handle_delivery(
    *,
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    index: IndexStore,
    blobs: BlobStore,
    now: Callable[[], str] = now_ts,
) -> dict[str, Any]:
    """Check and apply one delivery; the answer GitHub shows in the hook's delivery log."""
    if not signature_ok(secret, body, headers.get("x-hub-signature-256")):
        raise Unauthorized(
            "X-Hub-Signature-256 is missing or is not the HMAC of the body under this server's "
            "PRTRACE_GITHUB_WEBHOOK_SECRET"
        )
    event = headers.get("x-github-event", "")
    delivery = headers.get("x-github-delivery", "")
    if not _EVENT.match(event):
        raise BadBody("X-GitHub-Event: missing or not an event name")
    if not _DELIVERY.match(delivery):
        raise BadBody("X-GitHub-Delivery: missing or not a delivery id")
    if index.delivery_seen(delivery):
        return {"status": "duplicate", "event": event, "delivery": delivery}
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise BadWebhook("body: GitHub sends a JSON object")

    status = "applied"
    changed: set[str] = set()
    if event == "ping":
        status = "pong"
    elif event == "pull_request":
        pr = pull_request(payload)
        # The title travels in every envelope of the PR's traces: redacted like recorded text.
        pr = dataclasses.replace(pr, title=Redactor().text(pr.title))
        changed = apply_pull_request(index, blobs, pr, now=now)
    elif event in CI_EVENTS:
        changed = apply_ci_run(index, blobs, ci_run(event, payload, received_at=now()), now=now)
    else:
        status = "ignored"
    index.mark_prs_pending(changed, new_mark())
    index.record_delivery(delivery, event, now())
    return {"status": status, "event": event, "delivery": delivery}
