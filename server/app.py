"""The FastAPI app: thin routes over ingest and reads, one map from errors to status codes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from prtrace_core import __version__
from prtrace_viewer.app import viewer_router
from prtrace_viewer.headers import SecurityHeaders

from .auth import Principal, authenticate
from .blobs import BlobStore
from .bodies import parse_json, read_body
from .compaction import Compactor, Worker
from .errors import (
    BadArgument,
    BadBody,
    BadQuery,
    BodyTooLarge,
    Forbidden,
    InvalidBatch,
    NotFound,
    SeqModeChanged,
    ServerError,
    StoreCorrupt,
    StoreUnavailable,
    Unauthorized,
    UnsupportedEncoding,
    UnsupportedMediaType,
)
from .export import ExportFormat, export
from .index import IndexStore
from .ingest import ingest_batch
from .linking import link_after_ingest
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .middleware import LocalOnlyGuard, Measured
from .openapi import PrtraceAPI
from .orphans import OrphanSweeper
from .private_files import private_data_dir
from .prs import pr_document
from .queue import CompactionQueue, open_queue
from .reads import list_traces, trace_document, trace_events
from .settings import ServerSettings
from .stats import stats
from .stores import open_blobs, open_index
from .ui import viewer_host
from .webhooks import handle_delivery

__all__ = ["STATUS_CODES", "JSONBody", "Services", "create_app", "error_response"]

log = logging.getLogger("prtrace.server")

# The one place errors become status codes; the first matching class wins.
STATUS_CODES: tuple[tuple[type[ServerError], int], ...] = (
    (BadBody, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (BodyTooLarge, 413),
    (UnsupportedEncoding, 415),
    (UnsupportedMediaType, 415),
    (InvalidBatch, 422),
    (BadQuery, 422),
    (BadArgument, 422),
    (StoreUnavailable, 503),
    (SeqModeChanged, 503),
    (StoreCorrupt, 500),
)
_RETRY_AFTER_S = "1"


class JSONBody(JSONResponse):
    """JSON rendered by orjson: fast on large traces, and no recursion in the encoder."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


@dataclass(frozen=True, slots=True)
class Services:
    """What every request works with."""

    settings: ServerSettings
    index: IndexStore
    blobs: BlobStore
    metrics: Metrics
    worker: Worker | None = None
    queue: CompactionQueue | None = None  # told of every batch that added events


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


def _principal(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="Bearer TOKEN")] = None,
) -> Principal:
    return authenticate(authorization, required=services.settings.auth == "required", index=services.index)


PrincipalDep = Annotated[Principal, Depends(_principal)]
TraceIdPath = Annotated[str, Path(description="the trace's UUID")]
RepoQuery = Annotated[str | None, Query(description="owner/repo")]
SinceQuery = Annotated[
    str | None,
    Query(description="traces with an event at or after this ISO 8601 date or timestamp (UTC unless it says)"),
]
PrQuery = Annotated[str | None, Query(description="owner/repo#N, or N (with repo)")]


def create_app(
    settings: ServerSettings,
    *,
    index: IndexStore | None = None,
    blobs: BlobStore | None = None,
    worker: bool = False,
) -> FastAPI:
    """The app over the stores the settings name (opened and migrated now, closed at shutdown).

    With `worker`, the compaction worker runs in a thread of this process while it serves.
    """
    opened = index is None
    if index is None or blobs is None:
        private_data_dir(settings)
    index = index if index is not None else open_index(settings.index_url)
    try:
        blobs = blobs if blobs is not None else open_blobs(settings.blob_url)
    except BaseException:
        if opened:
            index.close()  # a PostgreSQL index holds a pool of connections and its threads
        raise

    metrics = Metrics()
    try:
        queue = open_queue(settings, in_process_worker=worker, upto_of=index.last_server_seq, metrics=metrics)
    except BaseException:
        if opened:
            index.close()
        blobs.close()
        raise
    compaction = (
        Worker(
            Compactor(index, blobs, github=settings.github_webhook_secret is not None),
            queue=queue,
            orphans=OrphanSweeper(
                index, blobs, grace_s=settings.orphan_grace_s, every_s=settings.orphan_interval_s, metrics=metrics
            ),
            metrics=metrics,
        )
        if worker
        else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if compaction is not None:
            compaction.start()
        try:
            yield
        finally:
            if compaction is not None:
                compaction.stop()
            if queue is not None:
                queue.close()
            index.close()
            blobs.close()

    app = PrtraceAPI(
        title="prtrace",
        version=__version__,
        summary="Traces of how pull requests were made: ingest batches, read whole traces.",
        lifespan=lifespan,
        default_response_class=JSONBody,
        # FastAPI's own docs routes take no token; _add_operator_routes serves them behind one.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = Services(
        settings=settings, index=index, blobs=blobs, metrics=metrics, worker=compaction, queue=queue
    )
    # The last middleware added runs first: every request is measured, refused ones too.
    if settings.auth == "off":
        app.add_middleware(LocalOnlyGuard, refuse=error_response)
    app.add_middleware(SecurityHeaders, prefix="/ui")  # the viewer's, on its refusals too
    app.add_middleware(Measured, metrics=metrics, routes=lambda: [getattr(r, "path", "") for r in app.routes])
    _install_error_handlers(app)
    _add_routes(app)
    _add_operator_routes(app, metrics)
    app.include_router(viewer_router(viewer_host(app.state.services)))  # /ui, authorised like the API
    return app


def error_response(exc: ServerError) -> JSONBody:
    """The answer to a ServerError: its status from STATUS_CODES, `{"detail": message}`."""
    status = next((code for cls, code in STATUS_CODES if isinstance(exc, cls)), 500)
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = _RETRY_AFTER_S
    if status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    return JSONBody({"detail": str(exc)}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    async def server_error(_: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, ServerError)
        return error_response(exc)

    async def bad_parameter(_: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"][1:]) or "request"
        return JSONBody({"detail": f"{where}: {first['msg']}"}, status_code=422)

    async def unexpected(_: Request, exc: Exception) -> JSONBody:
        # A bug, not bad input: the server logs the traceback, the client gets JSON.
        return JSONBody({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(ServerError, server_error)
    app.add_exception_handler(RequestValidationError, bad_parameter)
    app.add_exception_handler(Exception, unexpected)


def _add_routes(app: FastAPI) -> None:
    async def post_batch(request: Request, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
        body = parse_json(await read_body(request))
        answer = await run_in_threadpool(
            ingest_batch, body, principal=principal, index=services.index, blobs=services.blobs
        )
        services.metrics.count_batch(
            accepted=len(answer["accepted_event_ids"]),
            duplicate=len(answer["duplicate_event_ids"]),
            rejected=len(answer["rejected"]),
        )
        if services.settings.github_webhook_secret is not None and answer["accepted_event_ids"]:
            # a new trace, or one its client linked: GitHub's facts about its branch and PR
            await run_in_threadpool(link_after_ingest, services.index, services.blobs, answer["trace_id"])
        if services.queue is not None and answer["accepted_event_ids"]:
            # After the commit, and only a hint: publishing never raises, and a Redis that
            # does not answer costs one short timeout, then is left alone for a few seconds.
            await run_in_threadpool(
                services.queue.publish, answer["trace_id"], events=len(answer["accepted_event_ids"])
            )
        return JSONBody(answer)

    description = (
        "A trace envelope (`trace_id`, `repo`, `pr`, `developer`) plus up to 1,000 `events`, "
        "JSON, optionally `Content-Encoding: gzip`, at most 8 MiB after gzip is undone. "
        "Answers 200 with `accepted_event_ids`, `duplicate_event_ids` and `rejected` "
        "(`index`, `code`, `error`), also when some events are rejected."
    )
    for path, name in (("/v1/batches", "post_batch"), ("/ingest", "ingest")):
        app.add_api_route(
            path,
            post_batch,
            methods=["POST"],
            name=name,
            summary="Ingest a batch of events",
            description=description,
            include_in_schema=path == "/v1/batches",
        )

    @app.get("/v1/traces", summary="List traces, newest first")
    def get_traces(
        services: ServicesDep,
        principal: PrincipalDep,
        repo: Annotated[str | None, Query(description="owner/repo")] = None,
        branch: str | None = None,
        pr: Annotated[str | None, Query(description="owner/repo#N, or N (with repo)")] = None,
        developer: Annotated[str | None, Query(description="the developer's user_id")] = None,
        since: SinceQuery = None,
        until: Annotated[
            str | None,
            Query(
                description="traces whose first event is at or before this ISO 8601 timestamp, "
                "or on or before this date (the whole day counts)"
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> JSONBody:
        return JSONBody(
            list_traces(
                services.index,
                principal,
                repo=repo,
                branch=branch,
                pr=pr,
                developer=developer,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )
        )

    @app.get("/v1/traces/{trace_id}", summary="A whole trace")
    def get_trace(trace_id: TraceIdPath, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
        return JSONBody(trace_document(services.index, services.blobs, trace_id, principal))

    @app.get("/v1/traces/{trace_id}/events", summary="A page of a trace's events")
    def get_trace_events(
        trace_id: TraceIdPath,
        services: ServicesDep,
        principal: PrincipalDep,
        type: Annotated[str | None, Query(description="only events of this type")] = None,
        after_seq: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> JSONBody:
        return JSONBody(
            trace_events(
                services.index,
                services.blobs,
                trace_id,
                principal,
                type=type,
                after_seq=after_seq,
                limit=limit,
            )
        )

    @app.get(
        "/v1/prs/{owner}/{repo}/{number}",
        summary="A pull request: its traces and CI runs in one timeline",
        description="Every trace linked to the PR that the token may read, and the PR's CI runs, "
        "merged into one timeline ordered by time; each event carries its `trace_id` (null for CI).",
    )
    def get_pr(
        owner: str,
        repo: str,
        number: Annotated[int, Path(ge=1, le=2**63 - 1)],
        services: ServicesDep,
        principal: PrincipalDep,
    ) -> JSONBody:
        return JSONBody(pr_document(services.index, services.blobs, principal, owner, repo, number))

    async def post_github_webhook(request: Request, services: ServicesDep) -> JSONBody:
        secret = services.settings.github_webhook_secret
        if secret is None:
            raise NotFound("GitHub webhooks are not enabled on this server (PRTRACE_GITHUB_WEBHOOK_SECRET)")
        if request.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
            # GitHub signs the body as sent and never compresses it: nothing is undone before the check
            raise UnsupportedEncoding("GitHub's deliveries are not compressed; send the body as it was signed")
        body = await read_body(request)
        answer = await run_in_threadpool(
            handle_delivery,
            secret=secret.get_secret_value().encode("utf-8"),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=body,
            index=services.index,
            blobs=services.blobs,
        )
        return JSONBody(answer)

    app.add_api_route(
        "/v1/webhooks/github",
        post_github_webhook,
        methods=["POST"],
        summary="A GitHub webhook delivery (pull_request, check_run, check_suite, workflow_run, ping)",
        description="Authenticated by `X-Hub-Signature-256` (HMAC-SHA256 of the body under "
        "PRTRACE_GITHUB_WEBHOOK_SECRET), not by a token; idempotent by `X-GitHub-Delivery`. "
        "See docs/webhooks.md.",
    )

    @app.get("/v1/stats", summary="How the work went, per trace and in total")
    def get_stats(
        services: ServicesDep,
        principal: PrincipalDep,
        repo: RepoQuery = None,
        since: SinceQuery = None,
        pr: PrQuery = None,
    ) -> JSONBody:
        return JSONBody(stats(services.index, services.blobs, principal, repo=repo, since=since, pr=pr))

    @app.get(
        "/v1/export",
        summary="Events as JSONL or Parquet, one row per event, streamed",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/x-ndjson": {}, "application/vnd.apache.parquet": {}}}},
    )
    def get_export(
        services: ServicesDep,
        principal: PrincipalDep,
        format: ExportFormat = "jsonl",
        repo: RepoQuery = None,
        since: SinceQuery = None,
        pr: PrQuery = None,
    ) -> StreamingResponse:
        download = export(
            services.index, services.blobs, principal, format=format, repo=repo, since=since, pr=pr
        )
        return StreamingResponse(
            download.chunks,
            media_type=download.media_type,
            headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
        )

    @app.get("/healthz", summary="The process is up")
    def healthz() -> JSONBody:
        return JSONBody({"status": "ok"})

    @app.get("/readyz", summary="Both stores answer")
    def readyz(services: ServicesDep) -> JSONBody:
        checks: dict[str, str] = {}
        for name, store in (("index", services.index), ("objects", services.blobs)):
            try:
                store.ping()
                checks[name] = "ok"
            except StoreUnavailable as exc:
                checks[name] = str(exc)
        ready = all(value == "ok" for value in checks.values())
        return JSONBody(
            {"status": "ready" if ready else "unavailable", **checks},
            status_code=200 if ready else 503,
            headers={} if ready else {"Retry-After": _RETRY_AFTER_S},
        )


def _add_operator_routes(app: FastAPI, metrics: Metrics) -> None:
    """/metrics and the API's documentation: behind a token like the data, because they tell
    a stranger what the server runs and how much it is used (with PRTRACE_AUTH=off, loopback)."""

    @app.get("/metrics", summary="Prometheus metrics (any valid token)")
    def get_metrics(_: PrincipalDep) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    def get_openapi_document(_: PrincipalDep) -> JSONBody:
        return JSONBody(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def get_docs(_: PrincipalDep) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")

    @app.get("/redoc", include_in_schema=False)
    def get_redoc(_: PrincipalDep) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} API")
