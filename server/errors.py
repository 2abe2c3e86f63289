"""What the server can refuse or fail with. Each class is one answer a client can get; the app
turns them into status codes in one place (`app.STATUS_CODES`), the guarded entry into one red
line. `ConfigError` (a setting that cannot be honoured, met at start) is the one the client
shares: it is defined in `prtrace_core.errors` and only named here."""

from __future__ import annotations

from prtrace_core.errors import ConfigError, PrtraceError

__all__ = [
    "BadArgument",
    "BadBody",
    "BadQuery",
    "BodyTooLarge",
    "ConfigError",
    "EnvelopeTooLarge",
    "Forbidden",
    "InvalidBatch",
    "LocalOnly",
    "NotFound",
    "SeqModeChanged",
    "ServerError",
    "StoreCorrupt",
    "StoreUnavailable",
    "Unauthorized",
    "UnsupportedEncoding",
    "UnsupportedMediaType",
]


class ServerError(PrtraceError):
    """Base of the errors the server answers with (what a client meets as a refusal is
    `prtrace_daemon.client_errors.ServerRefused`)."""


class BadArgument(ServerError):
    """A command-line argument is malformed (a user name, a role)."""


class BadBody(ServerError):
    """The request body is not JSON, or not valid gzip."""


class BodyTooLarge(ServerError):
    """The body or the batch is over a limit."""


class UnsupportedEncoding(ServerError):
    """The body uses a Content-Encoding other than gzip or identity."""


class UnsupportedMediaType(ServerError):
    """A POST body is not sent as `Content-Type: application/json`."""


class InvalidBatch(ServerError):
    """The batch envelope or its `events` field is malformed."""


class EnvelopeTooLarge(InvalidBatch):
    """The trace envelope is over its size limit; sending it in smaller batches cannot help."""


class BadQuery(ServerError):
    """A path or query parameter is malformed."""


class Unauthorized(ServerError):
    """No token, or a token that is unknown or revoked."""


class Forbidden(ServerError):
    """The token is valid but its user may not do this."""


class LocalOnly(Forbidden):
    """With PRTRACE_AUTH=off, a request from another machine or for a host name that is not
    loopback (a web page's DNS rebinding)."""


class NotFound(ServerError):
    """No such trace, PR or token."""


class SeqModeChanged(ServerError):
    """A concurrent batch fixed the trace's seq mode first; the ingest is retried."""


class StoreUnavailable(ServerError):
    """The index or the object store cannot be reached or is busy; retry later."""


class StoreCorrupt(ServerError):
    """The index points at an object that is missing or unreadable."""
