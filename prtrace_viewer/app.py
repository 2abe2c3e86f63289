"""The viewer's routes: pages, fragments and JSON under `/ui`, for the server and `prtrace view`.

One router serves both hosts; what differs between them (who may read, whether there is a
login, the local key) comes in a `ViewerHost`. The rules every route keeps:

- every trace is read through the `TraceSource` the host gives for the request's credential,
  so a page sees exactly what the API would let that token see;
- every input is checked (`params`) before a source sees it, and a `ViewerError` becomes a
  page, a fragment or JSON with its status, never a traceback;
- every response carries the security headers (`headers`): a Content-Security-Policy with no
  inline script or style (all behaviour is in `static/viewer.js`), so a recorded string that
  slipped through escaping still could not run;
- recorded text reaches HTML only through Jinja2's autoescape or the highlighter.

What is left here is the list of pages and how each is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from prtrace_core.errors import PrtraceError

from . import params, views
from .headers import security_headers
from .highlight import file_lines
from .refs import event_refs, find_event
from .replaying import FileCache, files_at
from .rows import (
    TABLE_TYPES,
    as_mapping,
    ci_row,
    duration_ms,
    event_row,
    pr_event_row,
    pr_timeline,
    rows_url,
    trace_facts,
    trace_row,
)
from .session import (
    ViewKey,
    credential,
    cross_site,
    has_cookie,
    key_gate,
    path_and_query,
    plausible_token,
    read_form,
    safe_next,
    session_cookie,
)
from .source import NotAllowed, NotFound, TraceQuery, TraceSource, ViewerError
from .static_files import Static, load_static, static_response, versioned_url

__all__ = ["ViewerHost", "viewer_router"]

log = logging.getLogger("prtrace.viewer")

LIST_PAGE = 50  # traces per list page
ROWS_PAGE = 200  # event rows per page of the trace's table: the first screen stays light
PR_EVENTS = 500  # events the PR page's timeline shows

_HEADINGS = {
    400: "Bad request",
    401: "Login required",
    403: "Not allowed",
    404: "Not found",
    413: "Too large",
    415: "Unsupported form",
    503: "Unavailable",
}

Kind = Literal["page", "fragment", "json"]
Handler = Callable[[Request], Response]


class _Failed(ViewerError):
    """Something broke that is not the request's fault; the log has the details."""

    status = 500


@dataclass(frozen=True, slots=True)
class ViewerHost:
    """What the host (the server, or `prtrace view`) brings to the viewer."""

    # given the credential (the cookie's or the bearer token's value, or None), the source for
    # that reader; raises LoginRequired when it is missing, unknown or revoked
    source_for: Callable[[str | None], TraceSource]
    login: bool  # whether the login page exists (False: auth off, or the local key)
    check_token: Callable[[str], bool]  # the login form's check
    login_hint: str  # one sentence on the login page: where a token comes from
    name: str = "prtrace"  # shown in the header
    secure_cookie: bool | None = None  # None: Secure when the request came over https
    view_key: ViewKey | None = None  # `prtrace view`'s key: good for one visit, then a session


def _environment(static: Mapping[str, Static]) -> Environment:
    env = Environment(
        loader=PackageLoader("prtrace_viewer", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def static_url(name: str) -> str:
        return versioned_url(static, name)

    env.globals["static_url"] = static_url
    env.filters["duration_ms"] = duration_ms
    return env


class _Viewer:
    """The routes' shared state: the host, the templates and the static files."""

    def __init__(self, host: ViewerHost) -> None:
        self.host = host
        self.static = load_static()
        self.env = _environment(self.static)
        self.file_cache = FileCache()  # the scrubber asks for one file at stop after stop

    # responses

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def page(
        self, request: Request, name: str, page: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        logged_in = self.host.login and has_cookie(request)
        html = self.render(
            name, host_name=self.host.name, page=page, logged_in=logged_in, **context
        )
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, kind: Kind, error: ViewerError) -> Response:
        status = error.status
        message = str(error) or _HEADINGS.get(status, "Error")
        if status == 401 and kind == "page" and self.host.login:
            target = quote(path_and_query(request), safe="/")
            return RedirectResponse(f"/ui/login?next={target}", status_code=303)
        if kind == "json":
            return Response(orjson.dumps({"error": message}), status, media_type="application/json")
        if kind == "fragment":
            return PlainTextResponse(message, status_code=status)
        hint = error.hint
        if status == 401 and self.host.view_key is not None:
            hint = "Open the address `prtrace view` printed: it carries this viewer's key."
        return self.page(
            request,
            "error.html",
            "error",
            status=status,
            status_code=status,
            heading=_HEADINGS.get(status, "Something went wrong"),
            message=message,
            hint=hint,
        )

    def guarded(self, kind: Kind, handler: Handler, *, needs_key: bool = True) -> Handler:
        """The handler with the local key's gate before it, errors turned into answers after
        it, and the security headers on whatever it answers."""

        def endpoint(request: Request) -> Response:
            try:
                response = self.gate(request, needs_key=needs_key) or handler(request)
            except ViewerError as error:
                response = self.error(request, kind, error)
            except PrtraceError as error:
                log.warning("viewer: %s: %s", request.url.path, error)
                response = self.error(request, kind, _Failed(str(error)))
            except Exception:
                log.exception("viewer: %s failed", request.url.path)
                response = self.error(request, kind, _Failed("the viewer failed on this request; the log says why"))
            security_headers(response)
            return response

        return endpoint

    def gate(self, request: Request, *, needs_key: bool) -> Response | None:
        """The local key's check (`prtrace view` only); None: go on to the route."""
        if self.host.view_key is None:
            return None
        return key_gate(request, self.host.view_key, secure=self.host.secure_cookie, needs_key=needs_key)

    def source(self, request: Request) -> TraceSource:
        return self.host.source_for(credential(request, view=self.host.view_key is not None))

    # pages

    def traces_list(self, request: Request) -> Response:
        source = self.source(request)
        names = ("repo", "branch", "pr", "developer", "since", "until")
        filters = {name: params.query_filter(request.query_params.get(name, ""), name) for name in names}
        cursor = params.cursor(request.query_params.get("cursor"))
        answer = source.traces(TraceQuery(**filters, cursor=cursor, limit=LIST_PAGE))
        next_cursor = answer.get("next_cursor")
        next_href = None
        if next_cursor:
            carried = [(k, v) for k, v in filters.items() if v] + [("cursor", str(next_cursor))]
            next_href = "/ui?" + urlencode(carried)
        return self.page(
            request,
            "list.html",
            "list",
            rows=[trace_row(s) for s in answer.get("traces", [])],
            filters={k: v or "" for k, v in filters.items()},
            next_href=next_href,
        )

    def pr_page(self, request: Request) -> Response:
        owner, repo, number = (request.path_params[k] for k in ("owner", "repo", "number"))
        route = params.pr_route(owner, repo, number)  # checked before any source is asked
        doc = self.source(request).pr(*route)
        pr = as_mapping(doc.get("pr"))
        pr_id = str(doc.get("pr_id") or f"{owner}/{repo}#{number}")
        state = str(pr.get("status") or "unknown")
        events = [e for e in doc.get("events", []) if isinstance(e, Mapping)]
        return self.page(
            request,
            "pr.html",
            "pr",
            pr_id=pr_id,
            title=pr.get("title") or pr_id,
            state=state,
            state_class=state if state in ("open", "merged", "closed") else "unknown",
            timeline=pr_timeline(as_mapping(doc.get("timeline"))),
            traces=[trace_row(s) for s in doc.get("traces", [])],
            ci_runs=[ci_row(e) for e in events if e.get("type") == "ci"],
            events=[pr_event_row(e) for e in events[:PR_EVENTS]],
            more_events=max(0, len(events) - PR_EVENTS),
        )

    def trace_page(self, request: Request) -> Response:
        trace_id = params.trace_id(request.path_params["trace_id"])
        source = self.source(request)
        wanted = request.query_params.get("event")
        head = source.head(trace_id)
        first = source.events_page(trace_id, after_seq=None, limit=ROWS_PAGE, type=None)
        events = first.get("events", [])
        d = None
        if wanted is not None:
            d = views.detail(find_event(source, trace_id, wanted))
        facts = trace_facts(trace_id, head)
        count = as_mapping(head.get("summary")).get("event_count")
        return self.page(
            request,
            "trace.html",
            "trace",
            trace_id=trace_id,
            title=f"{facts['repo']} · {facts['branch']}",
            head=facts,
            rows=[event_row(trace_id, e, r) for e, r in zip(events, event_refs(source, trace_id, events), strict=True)],
            more_url=rows_url(trace_id, first.get("next_after_seq"), None),
            rows_src=f"/ui/traces/{trace_id}/rows",
            event_types=TABLE_TYPES,
            overview_src=f"/ui/traces/{trace_id}/overview.json",
            seq_max=count if isinstance(count, int) and count > 0 else 1,
            d=d,
        )

    # fragments and JSON

    def rows(self, request: Request) -> Response:
        trace_id = params.trace_id(request.path_params["trace_id"])
        after = params.optional_seq(request.query_params.get("after_seq"), "after_seq")
        kind = params.event_type(request.query_params.get("type"))
        source = self.source(request)
        page = source.events_page(trace_id, after_seq=after, limit=ROWS_PAGE, type=kind)
        events = page.get("events", [])
        html = self.render(
            "_rows.html",
            rows=[event_row(trace_id, e, r) for e, r in zip(events, event_refs(source, trace_id, events), strict=True)],
            more_url=rows_url(trace_id, page.get("next_after_seq"), kind),
        )
        return HTMLResponse(html)

    def overview(self, request: Request) -> Response:
        trace_id = params.trace_id(request.path_params["trace_id"])
        data = views.overview(self.source(request).events(trace_id))
        return Response(orjson.dumps(data), media_type="application/json")

    def event(self, request: Request) -> Response:
        trace_id = params.trace_id(request.path_params["trace_id"])
        event = find_event(self.source(request), trace_id, request.path_params["event_id"])
        return HTMLResponse(self.render("detail.html", d=views.detail(event), trace_id=trace_id))

    def files(self, request: Request) -> Response:
        trace_id = params.trace_id(request.path_params["trace_id"])
        seq = params.required_seq(request.query_params.get("at"), "at")
        source = self.source(request)
        found = files_at(source.events(trace_id), seq, source.replay_sources(trace_id))
        html = self.render(
            "files.html", files=found, seq=seq, changed=sum(1 for f in found if f.changed_here)
        )
        return HTMLResponse(html)

    def file(self, request: Request) -> Response:
        trace_id = params.trace_id(request.path_params["trace_id"])
        seq = params.required_seq(request.query_params.get("at"), "at")
        path = params.replay_path(request.query_params.get("path", ""))
        source = self.source(request)
        content = self.file_cache.file_at(source.events(trace_id), seq, path, source.replay_sources(trace_id))
        lines = file_lines(content.text, path) if content.text is not None else None
        reason = content.reason
        if lines is None and reason is None:
            reason = "This is a binary file." if content.binary else "This file's content is not known here."
        return HTMLResponse(self.render("file.html", path=path, seq=seq, lines=lines, reason=reason))

    def static_file(self, request: Request) -> Response:
        found = self.static.get(request.path_params["name"])
        if found is None:
            raise NotFound("no such file")
        return static_response(found, request.query_params.get("v"))

    def unknown(self, request: Request) -> Response:
        raise NotFound("there is no such page")

    # login and logout

    def login_page(self, request: Request) -> Response:
        if not self.host.login:
            raise NotFound("this viewer has no login: it is open to this machine")
        return self.login_form(request, safe_next(request.query_params.get("next")))

    def login_form(self, request: Request, next_url: str, *, message: str | None = None) -> Response:
        return self.page(
            request,
            "login.html",
            "login",
            status=401 if message else 200,
            next=next_url,
            message=message,
            login_hint=self.host.login_hint,
        )

    def check_post(self, request: Request) -> None:
        if not self.host.login:
            raise NotFound("this viewer has no login")
        if cross_site(request):
            raise NotAllowed("a form on another site may not post here")

    def login_submit(self, request: Request, fields: Mapping[str, list[str]]) -> Response:
        token = (fields.get("token") or [""])[0].strip()
        next_url = safe_next((fields.get("next") or [""])[0])
        if not plausible_token(token) or not self.host.check_token(token):
            return self.login_form(request, next_url, message="That token is unknown or revoked.")
        response = RedirectResponse(next_url, status_code=303)
        response.headers.append("set-cookie", session_cookie(token, request, secure=self.host.secure_cookie))
        return response

    def logout(self, request: Request) -> Response:
        self.check_post(request)
        response = RedirectResponse("/ui/login", status_code=303)
        response.headers.append(
            "set-cookie", session_cookie("", request, secure=self.host.secure_cookie, clear=True)
        )
        return response


def viewer_router(host: ViewerHost) -> APIRouter:
    """Every `/ui` route for this host. Handlers are plain functions (they run in the
    threadpool, as source reads block); only the login post is async, to read its body."""
    viewer = _Viewer(host)
    router = APIRouter(include_in_schema=False)

    def get(path: str, kind: Kind, handler: Handler, *, needs_key: bool = True) -> None:
        router.add_api_route(path, viewer.guarded(kind, handler, needs_key=needs_key), methods=["GET"])

    get("/ui", "page", viewer.traces_list)
    get("/ui/", "page", viewer.traces_list)
    get("/ui/login", "page", viewer.login_page)
    get("/ui/prs/{owner}/{repo}/{number}", "page", viewer.pr_page)
    get("/ui/traces/{trace_id}", "page", viewer.trace_page)
    get("/ui/traces/{trace_id}/rows", "fragment", viewer.rows)
    get("/ui/traces/{trace_id}/overview.json", "json", viewer.overview)
    get("/ui/traces/{trace_id}/events/{event_id}", "fragment", viewer.event)
    get("/ui/traces/{trace_id}/files", "fragment", viewer.files)
    get("/ui/traces/{trace_id}/file", "fragment", viewer.file)
    get("/ui/static/{name}", "fragment", viewer.static_file, needs_key=False)

    async def login_post(request: Request) -> Response:
        try:
            viewer.gate(request, needs_key=False)
            viewer.check_post(request)
            fields = await read_form(request)
        except ViewerError as error:
            response = viewer.error(request, "page", error)
            security_headers(response)
            return response
        except Exception:  # answered here: past this handler no one adds the headers
            log.exception("viewer: %s failed", request.url.path)
            response = viewer.error(request, "page", _Failed("the viewer failed on this request; the log says why"))
            security_headers(response)
            return response
        handler = viewer.guarded("page", lambda r: viewer.login_submit(r, fields), needs_key=False)
        return await run_in_threadpool(handler, request)

    router.add_api_route("/ui/login", login_post, methods=["POST"])
    router.add_api_route("/ui/logout", viewer.guarded("page", viewer.logout, needs_key=False), methods=["POST"])
    get("/ui/{rest:path}", "page", viewer.unknown)
    return router
