"""Request bodies: read as a stream with a running cap that applies after gzip is undone, then
parsed as JSON without recursion limits turning into server errors."""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from .errors import BadBody, BodyTooLarge, UnsupportedEncoding, UnsupportedMediaType
from .json_limits import NonFinite

__all__ = ["DRAIN_LIMIT_BYTES", "MAX_BODY_BYTES", "is_json_media_type", "parse_json", "read_body"]

MAX_BODY_BYTES = 8 * 1024 * 1024
# Before answering 413 the rest of an upload is read and dropped, up to this much, so the
# client reads the answer instead of a connection reset.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024

_GZIP = ("gzip", "x-gzip")
# 19 digits in a row may be an integer outside what orjson keeps exact (-2**63 … 2**64-1).
# Found by marking digits with bytes.translate and searching the marks: a regex scan of a
# 400 kB batch took longer than parsing it.
_DIGIT_MARKS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x2E for byte in range(256))  # '0' or '.'
_LONG_RUN = b"0" * 19
_DIGITS = frozenset(b"0123456789")
_JSON_SPACE = frozenset(b" \t\n\r")
_BEFORE_VALUE = frozenset(b":,[")
_IDENTITY = ("", "identity")
_JSON_MEDIA_TYPE = "application/json"


def is_json_media_type(content_type: str) -> bool:
    """Whether a Content-Type header names JSON (`application/json`, parameters allowed).

    Only this type is taken: an HTML form or a `no-cors` fetch from a web page can send
    text/plain, form data or multipart without asking the server first, never JSON.
    """
    return content_type.partition(";")[0].strip().lower() == _JSON_MEDIA_TYPE


class _Gunzip:
    """gzip undone incrementally, never producing more than `limit` bytes in all."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._produced = 0
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        pieces = []
        while data:
            if self._inflate.eof:  # another gzip member follows the first
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            room = self._limit - self._produced
            try:
                piece = self._inflate.decompress(data, room + 1)
            except zlib.error as exc:
                raise BadBody(f"body is not valid gzip: {exc}") from None
            self._produced += len(piece)
            if self._produced > self._limit:
                raise _too_large(self._limit)
            pieces.append(piece)
            # Output under max_length means all input was taken, except what follows a member.
            data = self._inflate.unused_data if self._inflate.eof else b""
        return b"".join(pieces)

    def finish(self) -> None:
        if not self._inflate.eof:
            raise BadBody("body is not valid gzip: the compressed data ends early")


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"body is over the {limit // (1024 * 1024)} MiB limit (measured after gzip is undone)")


async def read_body(
    request: Request, *, limit: int = MAX_BODY_BYTES, drain_limit: int = DRAIN_LIMIT_BYTES
) -> bytes:
    """The JSON body, gzip undone, at most `limit` bytes; UnsupportedMediaType, BodyTooLarge,
    BadBody or UnsupportedEncoding otherwise — raised only after the rest of the upload is drained."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    failure: Exception | None = None
    content_type = request.headers.get("content-type", "")
    if not is_json_media_type(content_type):
        failure = UnsupportedMediaType(
            f"Content-Type {content_type[:64]!r} is not supported; send the body as application/json"
        )
    elif encoding not in _GZIP + _IDENTITY:
        failure = UnsupportedEncoding(
            f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding"
        )
    declared = request.headers.get("content-length", "")
    if failure is None and declared.isdigit() and int(declared) > limit:
        failure = _too_large(limit)
    gunzip = _Gunzip(limit) if encoding in _GZIP else None

    parts: list[bytes] = []
    received = produced = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if failure is not None:
                if received > drain_limit:
                    break
                continue
            try:
                if received > limit:
                    raise _too_large(limit)
                piece = gunzip.feed(chunk) if gunzip is not None else chunk
                produced += len(piece)
                if produced > limit:
                    raise _too_large(limit)
                parts.append(piece)
            except (BodyTooLarge, BadBody) as exc:
                failure = exc
                parts.clear()
    except ClientDisconnect:
        raise BadBody("the client closed the connection before the body was complete") from None
    if failure is not None:
        raise failure
    if gunzip is not None:
        gunzip.finish()
    return b"".join(parts)


def _has_long_number(body: bytes) -> bool:
    """Whether a JSON number in `body` has 19 digits or more in its integer or fraction part.

    Digits in a string do not count: a commit sha holds 19 in a row now and then, and nearly
    every batch of a thousand edits has one, which sent it to the slow parser. A number
    starts the body or follows `:`, `,` or `[` (and whitespace, and its sign); a run of
    digits that does not is text.
    """
    marks = body.translate(_DIGIT_MARKS)
    start = marks.find(_LONG_RUN)
    while start != -1:
        i = start - 1
        if i >= 1 and body[i] == 0x2E and body[i - 1] in _DIGITS:  # the fraction: its integer part
            i -= 1
            while i >= 0 and body[i] in _DIGITS:
                i -= 1
        if i >= 0 and body[i] == 0x2D:  # -
            i -= 1
        while i >= 0 and body[i] in _JSON_SPACE:
            i -= 1
        if i < 0 or body[i] in _BEFORE_VALUE:
            return True
        end = marks.find(b".", start)  # past this run: the next search starts a run
        if end == -1:
            return False
        start = marks.find(_LONG_RUN, end)
    return False


def parse_json(body: bytes) -> Any:
    """The decoded JSON value; BadBody with the parser's reason otherwise.

    A number no double holds (`1e400`) and the non-JSON constants `NaN`, `Infinity` and
    `-Infinity` become `NonFinite` values, so only the event holding one is rejected.
    """
    if not body.strip():
        raise BadBody("body is not valid JSON: the body is empty")
    if not _has_long_number(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # the stdlib parser below decides, and gives the reason
    # orjson turns an integer beyond 64 bits into a float and refuses a lone surrogate escape,
    # an infinite number and NaN outright; the stdlib parser keeps each as sent (the numbers
    # as NonFinite), so the event holding one is rejected on its own and the rest is kept.
    try:
        return json.loads(body.decode("utf-8"), parse_constant=NonFinite, parse_float=_finite_float)
    except RecursionError:
        raise BadBody("body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadBody(f"body is not valid JSON: {exc}") from None


def _finite_float(text: str) -> float | NonFinite:
    number = float(text)
    return number if math.isfinite(number) else NonFinite(text)
