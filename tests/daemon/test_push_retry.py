"""The push client's retries, against a real local HTTP server that answers as scripted: which
answers are tried again, how long it waits between tries (growing, never shorter than a
Retry-After), what it says before each wait, and when it gives up."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prtrace_daemon.client_errors import ServerUnreachable
from prtrace_daemon.push import MAX_RETRY_AFTER_S, ServerClient, _retry_after


class ScriptedServer:
    """Answers each request with the next (status, headers) of its script, then 200 `{}`;
    notes when each request arrived."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.arrivals: list[float] = []
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.arrivals.append(time.monotonic())
                server.paths.append(self.path)
                status, headers = server.script.pop(0) if server.script else (200, {})
                body = b"{}"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def gaps(self) -> list[float]:
        """Seconds between one request's arrival and the next's."""
        return [
            later - earlier
            for earlier, later in zip(self.arrivals, self.arrivals[1:], strict=False)
        ]

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


class Told:
    """What the client said before each wait: (why, seconds, the try that failed, tries in all)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, int, int]] = []

    def __call__(self, why: str, wait_s: float, attempt: int, attempts: int) -> None:
        self.calls.append((why, wait_s, attempt, attempts))

    @property
    def waits(self) -> list[float]:
        return [call[1] for call in self.calls]


def test_busy_answers_are_tried_again_with_waits_that_grow(server: ScriptedServer) -> None:
    server.script = [(503, {}), (502, {}), (504, {}), (429, {})]
    told = Told()
    with ServerClient(server.url, None, attempts=6, retry_s=0.1, on_retry=told) as client:
        assert client.request("GET", "/v1/traces").status_code == 200
    assert len(server.arrivals) == 5
    assert [(why, attempt, attempts) for why, _, attempt, attempts in told.calls] == [
        ("server answered 503", 1, 6),
        ("server answered 502", 2, 6),
        ("server answered 504", 3, 6),
        ("server answered 429", 4, 6),
    ]
    # Equal jitter: try n waits between half and all of 0.1 s doubled n-1 times, so no wait is
    # shorter than the one before it.
    for n, wait in enumerate(told.waits):
        assert 0.1 * 2**n / 2 <= wait <= 0.1 * 2**n
    assert told.waits == sorted(told.waits)
    # ... and the client really waited that long before asking again.
    for gap, wait in zip(server.gaps(), told.waits, strict=True):
        assert gap >= wait


def test_retry_after_is_waited_out_even_when_the_backoff_is_shorter(server: ScriptedServer) -> None:
    server.script = [
        (503, {"Retry-After": "1"}),
        # An HTTP date holds whole seconds: from the next whole second on, at least 3 s are
        # left when the client reads it a second (plus any delay) later.
        (429, {"Retry-After": formatdate(math.ceil(time.time()) + 4, usegmt=True)}),
    ]
    told = Told()
    with ServerClient(server.url, None, attempts=3, retry_s=0.01, on_retry=told) as client:
        assert client.request("GET", "/v1/traces").status_code == 200
    first, second = told.waits
    assert first == 1.0
    assert 1.5 < second <= 4.0
    assert server.gaps()[0] >= 1.0 and server.gaps()[1] >= second


def test_it_gives_up_after_the_last_try_with_what_the_server_said(server: ScriptedServer) -> None:
    server.script = [(503, {})] * 10
    told = Told()
    with (
        ServerClient(server.url, None, attempts=4, retry_s=0.01, on_retry=told) as client,
        pytest.raises(ServerUnreachable, match=rf"^{server.url} answered 503$") as caught,
    ):
        client.request("GET", "/v1/traces")
    assert len(server.arrivals) == 4  # no wait after the last try
    assert [call[2] for call in told.calls] == [1, 2, 3]
    assert caught.value.hint and "nothing is lost" in caught.value.hint


@pytest.mark.parametrize("status", [400, 401, 404, 413, 500])
def test_an_answer_that_cannot_pass_is_not_tried_again(server: ScriptedServer, status: int) -> None:
    server.script = [(status, {"Retry-After": "1"})]
    told = Told()
    with ServerClient(server.url, None, attempts=6, retry_s=0.01, on_retry=told) as client:
        assert client.request("GET", "/v1/traces").status_code == status
    assert len(server.arrivals) == 1 and told.calls == []


def test_a_refused_connection_is_tried_again_and_said() -> None:
    bound = socket.socket()  # bound, never listening: connections to it are refused
    bound.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{bound.getsockname()[1]}"
    told = Told()
    with (
        bound,
        ServerClient(url, None, attempts=3, retry_s=0.01, on_retry=told) as client,
        pytest.raises(ServerUnreachable, match=rf"^cannot reach {url}: "),
    ):
        client.request("GET", "/v1/traces")
    assert len(told.calls) == 2
    assert all(why.startswith("cannot reach the server (") for why, *_ in told.calls)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("", None),
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("nan", None),
        ("soon", None),
        ("100000", MAX_RETRY_AFTER_S),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date_within_bounds(
    header: str, seconds: float | None
) -> None:
    assert _retry_after(header) == seconds
