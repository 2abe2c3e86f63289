"""Who is asking, and what their role lets them do."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Unauthorized
from .index import IndexStore, Role
from .tokens import verify_token

__all__ = ["ANONYMOUS", "Principal", "authenticate"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request. Writers write and read their own traces, readers read every
    trace, admins do everything."""

    user: str
    role: Role

    @property
    def can_write(self) -> bool:
        return self.role in ("writer", "admin")

    @property
    def reads_all(self) -> bool:
        return self.role in ("reader", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_read(self, owner: str) -> bool:
        """Whether this user may read a trace owned by `owner`."""
        return self.reads_all or owner == self.user


# With PRTRACE_AUTH=off (loopback only) every request acts as this user.
ANONYMOUS = Principal(user="anonymous", role="admin")


def authenticate(authorization: str | None, *, required: bool, index: IndexStore) -> Principal:
    """The principal for an `Authorization: Bearer TOKEN` header; Unauthorized if it is missing,
    malformed, unknown or revoked."""
    if not required:
        return ANONYMOUS
    if not authorization:
        raise Unauthorized("a token is required: send Authorization: Bearer TOKEN")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must read: Bearer TOKEN")
    record = verify_token(index, token.strip())
    if record is None:
        raise Unauthorized("the token is unknown or revoked")
    return Principal(user=record.user, role=record.role)
