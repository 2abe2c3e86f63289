"""`prtrace view`: the trace viewer on this machine, over the local buffer or a trace file.

The pages are the server's own (`prtrace_viewer`), served on loopback to this user alone:
the address carries a random key good for one visit, which the first request trades for a
session cookie, so another local user or a web page guessing the port reads nothing. The key
never goes on a command line (where any local user could read it): the browser is sent a
private local file that forwards it to the address. The viewer's packages are an extra
(`prtrace[view]`) and are imported only here, when the command runs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from prtrace_core.errors import ConfigError, PrtraceError

if TYPE_CHECKING:
    from prtrace_core.replay import Sources
    from prtrace_viewer.session import ViewKey

__all__ = ["Loaded", "PortUnavailable", "ViewerNotInstalled", "forwarding_page", "load", "open_view", "page_for"]

_HOST = "127.0.0.1"


class ViewerNotInstalled(ConfigError):
    """The viewer's packages (FastAPI, uvicorn, Jinja2, Pygments) are not installed."""


class PortUnavailable(PrtraceError):
    """`--port` names a port this machine will not let the viewer listen on."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the viewer shows, and the page to open first (a path under /ui)."""

    traces: list[dict[str, Any]]
    page: str
    name: str  # the header's "prtrace — …"


def open_view(ref: str | None, *, port: int | None, browser: bool) -> None:
    """Serve the viewer until Ctrl-C; the address goes to stdout, and to the browser."""
    _need_viewer_packages()
    loaded = load(ref)
    from prtrace_cli.state import open_home
    from prtrace_daemon.blobs import BlobCache
    from prtrace_daemon.gitobjects import GitSources
    from prtrace_viewer.session import ViewKey

    repository = _repository(loaded.traces)
    with (
        GitSources(repository, BlobCache(open_home().blobs)) as git,
        _listening(port) as sock,
        tempfile.TemporaryDirectory(prefix="prtrace-view-") as private,  # 0700, gone at exit
    ):
        key = ViewKey(secrets.token_urlsafe(32))
        bound = sock.getsockname()[1]
        app = _app(loaded, _Serialised(git), key)
        url = f"http://{_HOST}:{bound}{loaded.page}{'&' if '?' in loaded.page else '?'}key={key.key}"
        try:  # from here on Ctrl-C is how the viewer stops: exit 0
            print(f"prtrace view: {url} (Ctrl-C stops)", flush=True)  # this user's own terminal
            if browser:
                _open_browser(url, Path(private))
            _serve(app, sock)
        except KeyboardInterrupt:
            pass
    print("stopped", file=sys.stderr, flush=True)


def load(ref: str | None) -> Loaded:
    """The traces REF names (every trace in the local buffer without one) and the page that
    shows them best: the trace itself, its PR, or the list filtered to them."""
    from prtrace_cli.traces import Source, load_traces

    if ref is None:
        traces = _buffer_traces()
        return Loaded(traces, "/ui", "local buffer")
    traces = load_traces(ref, Source(None))  # a file, or the local buffer: never a server
    return Loaded(traces, page_for(ref, traces), ref)


def page_for(ref: str, traces: Sequence[Mapping[str, Any]]) -> str:
    """The first page for REF's traces: one trace's page, a PR's page when REF names a PR,
    else the list (filtered to the branch when REF named one)."""
    from prtrace_core.refs import BranchRef, PrRef, parse_ref

    if len(traces) == 1:
        return f"/ui/traces/{quote(str(traces[0].get('trace_id')), safe='')}"
    parsed = parse_ref(ref)
    if isinstance(parsed, PrRef):
        pr = traces[0].get("pr")
        pr_id = pr.get("pr_id") if isinstance(pr, Mapping) else None
        repo, _, number = str(pr_id or "").rpartition("#")
        if repo.count("/") == 1 and number.isdigit():
            return "/ui/prs/" + "/".join(quote(part, safe="") for part in (*repo.split("/"), number))
    if isinstance(parsed, BranchRef):
        repo_name = (traces[0].get("repo") or {}).get("name")
        query = {"branch": parsed.branch, **({"repo": repo_name} if isinstance(repo_name, str) else {})}
        return "/ui?" + urlencode(query)
    return "/ui"


def _need_viewer_packages() -> None:
    try:
        import uvicorn  # noqa: F401

        import prtrace_viewer.app  # noqa: F401  (FastAPI, Jinja2 and Pygments come with it)
    except ImportError:
        raise ViewerNotInstalled("prtrace view needs the viewer's packages: pip install 'prtrace[view]'") from None


def _buffer_traces() -> list[dict[str, Any]]:
    """Every trace in the local buffer, after the spool is drained into it."""
    from prtrace_cli.state import open_buffer, open_home, recorder
    from prtrace_daemon.client_errors import UnknownRef
    from prtrace_daemon.envelope import local_trace

    home = open_home()
    with open_buffer(home) as buffer:
        with contextlib.suppress(PrtraceError):  # what is in the buffer still shows
            recorder(home, buffer).drain()
        traces = [local_trace(buffer, row) for row in buffer.traces()]
    if not traces:
        raise UnknownRef("the local buffer holds no trace", hint="`prtrace start` records one in a repository")
    return traces


def _repository(traces: Sequence[Mapping[str, Any]]) -> Any:
    """The current repository when it is one of the traces' (replay reads its objects), else
    None: the blob cache alone then serves what capture kept."""
    from prtrace_cli.verify import repo_for

    for trace in traces:
        git, _why = repo_for(dict(trace), None)
        if git is not None:
            return git
    return None


class _Serialised:
    """Sources used by one request at a time: git's long-lived `cat-file` pipes answer one
    question at a time, and the pages are served from a thread pool."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources
        self._lock = threading.Lock()

    def blob(self, sha: str) -> bytes | None:
        with self._lock:
            return self._sources.blob(sha)

    def tree(self, commit: str) -> dict[str, tuple[str, str]] | None:
        with self._lock:
            return self._sources.tree(commit)

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str | None] | None:
        with self._lock:
            return self._sources.blob_ids(commit, paths)


@contextlib.contextmanager
def _listening(port: int | None) -> Iterator[socket.socket]:
    """A socket listening on loopback, bound before the address is printed, so the address
    works the moment it is shown (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((_HOST, port or 0))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise PortUnavailable(
            f"cannot listen on {_HOST}:{port or 0}: {exc.strerror or exc}",
            hint="choose another --port, or leave it out for a free one",
        ) from None
    try:
        yield sock
    finally:
        sock.close()


def _app(loaded: Loaded, sources: Sources, key: ViewKey) -> Any:
    from fastapi import FastAPI

    from prtrace_viewer.app import ViewerHost, viewer_router
    from prtrace_viewer.headers import SecurityHeaders
    from prtrace_viewer.memory import MemorySource
    from prtrace_viewer.source import LoginRequired, TraceSource

    source = MemorySource(loaded.traces, sources=sources)

    def source_for(credential: str | None) -> TraceSource:
        if not key.admits(credential):  # the session the key was traded for, nothing else
            raise LoginRequired("open the address `prtrace view` printed")
        return source

    host = ViewerHost(
        source_for=source_for,
        login=False,
        check_token=lambda _token: False,
        login_hint="open the address `prtrace view` printed",
        name=f"prtrace — {loaded.name}",
        secure_cookie=False,
        view_key=key,
    )
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(viewer_router(host))
    app.add_middleware(SecurityHeaders, prefix="/ui")  # also on what no viewer route answers
    return app


def _open_browser(url: str, private: Path) -> None:
    """Open the browser on a file that forwards it to `url`: a browser's command line can be
    read by every local user, the file (0600, in a 0700 folder) by this one alone."""
    import webbrowser

    page = private / "open.html"
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(forwarding_page(url))
    with contextlib.suppress(webbrowser.Error):  # no browser here: the printed line is enough
        webbrowser.open(page.as_uri())


def forwarding_page(url: str) -> str:
    """A page that sends the browser on to `url` at once (a link too, should it not)."""
    target = escape(url, quote=True)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="refresh" content="0;url={target}">\n<title>prtrace view</title></head>\n'
        f'<body><p><a href="{target}">Open the trace viewer</a></p></body></html>\n'
    )


def _serve(app: Any, sock: socket.socket) -> None:
    """Serve until Ctrl-C (or SIGTERM), which is how the viewer is meant to stop."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    # uvicorn takes the signal, shuts down, then raises it again: a KeyboardInterrupt here
    uvicorn.Server(config).run(sockets=[sock])
