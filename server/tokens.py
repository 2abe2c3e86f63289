"""API tokens: made here, shown once, stored as a hash.

A token reads `prt_<id>_<secret>`. The id is public (it names the token in `token list` and
`token revoke`) and finds the row; the secret has 256 bits of entropy, so a plain sha256 of the
whole token is a safe stored form, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from prtrace_core.timestamps import now_ts

from .errors import BadArgument, NotFound
from .index import IndexStore, Role, TokenRecord

__all__ = ["ROLES", "hash_token", "issue_token", "revoke", "token_id_of", "verify_token"]

ROLES: tuple[Role, ...] = ("writer", "reader", "admin")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOKEN = re.compile(r"^prt_([0-9a-f]{12})_[A-Za-z0-9_-]{32,}$")


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id_of(token: str) -> str | None:
    """The public id inside a well-formed token, or None."""
    match = _TOKEN.match(token)
    return match[1] if match else None


def issue_token(index: IndexStore, *, user: str, role: Role) -> tuple[TokenRecord, str]:
    """Create and store a token for the user; returns its record and the token itself."""
    if not _USER.match(user):
        raise BadArgument(f"user name {user!r}: use 1-64 letters, digits and . _ @ -, starting with a letter or digit")
    if role not in ROLES:
        raise BadArgument(f"role {role!r}: must be one of {', '.join(ROLES)}")
    token_id = secrets.token_hex(6)
    token = f"prt_{token_id}_{secrets.token_urlsafe(32)}"
    record = TokenRecord(token_id=token_id, user=user, role=role, token_hash=hash_token(token), created_at=now_ts())
    index.add_token(record)
    return record, token


def verify_token(index: IndexStore, token: str) -> TokenRecord | None:
    """The active token's record, or None for a malformed, unknown or revoked token."""
    token_id = token_id_of(token)
    if token_id is None:
        return None
    record = index.get_token(token_id)
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(record.token_hash, hash_token(token)):
        return None
    return record


def revoke(index: IndexStore, *, token_id: str | None = None, user: str | None = None) -> int:
    """Revoke one token by id, or every token of a user; NotFound when none was active."""
    count = index.revoke_tokens(token_id=token_id, user=user, at=now_ts())
    if count == 0:
        what = f"token {token_id}" if token_id is not None else f"user {user}"
        raise NotFound(f"no active token for {what}")
    return count
