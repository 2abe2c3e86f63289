"""Auth-off mode serves this machine only.

With PRTRACE_AUTH=off there is no token to stop anyone, so the app itself (not only the bind
address `serve` checks) answers nothing but requests from a loopback peer that name a loopback
host. The peer check keeps other machines out whatever the server is bound to or proxied
behind; the Host check defeats DNS rebinding, where a web page the developer opens re-points
its own host name at 127.0.0.1 and reads the answers as same-origin.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from .errors import LocalOnly

__all__ = ["LOOPBACK_HOSTS", "is_loopback_client", "is_loopback_host", "local_only_refusal"]

# The Host names a request may carry in auth-off mode (each with or without a port).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback_host(value: str | None) -> bool:
    """Whether a Host header names 127.0.0.1, localhost or [::1], with or without a port."""
    if not value:
        return False
    host = value.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host.partition("]")
        name += bracket
        if rest and not rest.startswith(":"):
            return False
        port = rest[1:] if rest else None
    else:
        name, colon, port_text = host.partition(":")
        port = port_text if colon else None
    if port is not None and not (port.isascii() and port.isdigit() and len(port) <= 5):
        return False
    return name in LOOPBACK_HOSTS


def is_loopback_client(client: Iterable[Any] | None) -> bool:
    """Whether the peer of an ASGI connection (`scope["client"]`) is a loopback address."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(str(next(iter(client))))
    except ValueError:
        return False  # a name (a test transport's) or a Unix socket path: not provably local
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def local_only_refusal(scope: dict[str, Any]) -> LocalOnly | None:
    """Why an auth-off server must not answer this request, or None when it may."""
    client = scope.get("client")
    if not is_loopback_client(client):
        peer = str(client[0]) if client else "an unknown peer"
        return LocalOnly(f"PRTRACE_AUTH=off serves this machine only; this request came from {peer[:64]}")
    hosts = [value for name, value in scope.get("headers", ()) if name.lower() == b"host"]
    host = hosts[0].decode("latin-1") if len(hosts) == 1 else None
    if not is_loopback_host(host):
        named = repr(host[:64]) if host is not None else "no single Host header"
        return LocalOnly(
            f"PRTRACE_AUTH=off answers requests for {', '.join(LOOPBACK_HOSTS)} only, not {named}"
        )
    return None
