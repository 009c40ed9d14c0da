"""HTTP routes: the web app's static files, its JSON API (over QueryService) and media."""

from __future__ import annotations

import hmac
import json
import time
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from services.console import metrics
from services.console.api import CALLER_TOKEN, ApiError, QueryApi
from services.console.media import PLAYABLE, Media, MediaError
from shotline.auth import Authenticator

STATIC = Path(__file__).parent / "static"
COOKIE = "shotline_console"
MAX_CLIP_BYTES = 32 * 1024 * 1024
MAX_PAGE = 200


def _int(request: Request, name: str, default: int, lo: int = 0, hi: int = 10**12) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    try:
        v = int(raw)
    except ValueError as e:
        raise ApiError(400, f"{name} must be a whole number, got {raw!r}") from e
    if not lo <= v <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}, got {v}")
    return v


def _list(request: Request, name: str) -> list[str]:
    return [p.strip() for v in request.query_params.getlist(name) for p in v.split(",") if p.strip()]


def _page(request: Request, default: int = 24) -> tuple[int, int]:
    return _int(request, "offset", 0), _int(request, "limit", default, 1, MAX_PAGE)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as e:
        raise ApiError(400, f"the request body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


class Console:
    """The routes, bound to one QueryApi and one Media."""

    def __init__(self, api: QueryApi, media: Media, token: str | None = None, users: Authenticator | None = None):
        self.api, self.media, self.token, self.users = api, media, token, users
        self.ready = True

    # ---- health ------------------------------------------------------------------------------
    def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(self, request: Request) -> Response:
        if self.ready and self.api.ready():
            return PlainTextResponse("ready: query service reachable\n")
        return PlainTextResponse("not ready: query service unreachable\n", status_code=503)

    def metrics_(self, request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    def index(self, request: Request) -> Response:
        resp = FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})
        token = request.query_params.get("token")
        if token and signs_in(token, self.token, self.users):
            resp.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return resp

    # ---- search ------------------------------------------------------------------------------
    def _filters(self, request: Request):  # type: ignore[no-untyped-def]
        return self.api.filters(_list(request, "catalog"), _list(request, "video"),
                                _int(request, "min_start_ms", 0), _int(request, "max_end_ms", 0))

    def search(self, request: Request) -> Response:
        offset, limit = _page(request)
        grouped = request.query_params.get("group") in ("1", "true", "video")
        q = request.query_params.get("q", "")
        if not q.strip():
            raise ApiError(400, "type something to search for")
        mode = request.query_params.get("mode") or "hybrid"
        return JSONResponse(self.api.search_text(q, self._filters(request), offset, limit, grouped, mode))

    def similar(self, request: Request) -> Response:
        offset, limit = _page(request)
        grouped = request.query_params.get("group") in ("1", "true", "video")
        shot = request.query_params.get("shot", "")
        if not shot:
            raise ApiError(400, "say which shot to find more like (shot=<video>/<index>)")
        return JSONResponse(self.api.search_similar(self._filters(request), offset, limit, grouped, shot_id=shot))

    async def similar_clip(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        offset, limit = _page(request)
        grouped = request.query_params.get("group") in ("1", "true", "video")
        clip = bytearray()
        async for chunk in request.stream():
            clip += chunk
            if len(clip) > MAX_CLIP_BYTES:
                raise ApiError(413, f"clips are limited to {MAX_CLIP_BYTES // 2**20} MiB")
        if not clip:
            raise ApiError(400, "choose a clip file to search with")
        filters = self._filters(request)
        return JSONResponse(await run_in_threadpool(
            self.api.search_similar, filters, offset, limit, grouped, clip=bytes(clip)))

    # ---- videos ------------------------------------------------------------------------------
    def video(self, request: Request) -> Response:
        vid = request.path_params["video_id"]
        shots = self.api.video_shots(vid, _int(request, "shot", 0))
        try:
            cats: dict[str, Any] | None = self.api.categories(vid)
            cats_error = None
        except ApiError as e:
            cats, cats_error = None, e.message
        return JSONResponse({"video_id": vid, "shots": shots, "categories": cats, "categories_error": cats_error})

    # ---- classifiers -------------------------------------------------------------------------
    def classifiers(self, request: Request) -> Response:
        return JSONResponse({"classifiers": self.api.classifiers()})

    def classifier(self, request: Request) -> Response:
        return JSONResponse(self.api.classifier(request.path_params["label"]))

    async def create(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        body = await _body(request)
        label, description = str(body.get("label", "")).strip(), str(body.get("description", "")).strip()
        if not label or not description:
            raise ApiError(400, "a new label needs a name and a description (the description seeds its "
                                "zero-shot first version)")
        res = await run_in_threadpool(self.api.submit, label, [], str(body.get("annotator", "")), description)
        return JSONResponse({"label": label, **res}, status_code=202)

    async def labels(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        body = await _body(request)
        items = body.get("labels")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "labels must be a non-empty list of {shot_id, value}")
        pairs = [(str(i.get("shot_id", "")), str(i.get("value", ""))) for i in items if isinstance(i, dict)]
        res = await run_in_threadpool(self.api.submit, request.path_params["label"], pairs,
                                      str(body.get("annotator", "")), str(body.get("description", "")))
        return JSONResponse(res, status_code=202)

    async def deploy(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        body = await _body(request)
        try:
            version = int(body.get("version", -1))
        except (TypeError, ValueError):
            version = -1
        if version < 0:
            raise ApiError(400, "version must be a version number, or 0 to follow the latest")
        return JSONResponse(await run_in_threadpool(self.api.deploy, request.path_params["label"], version))

    def feed(self, request: Request) -> Response:
        offset, limit = _page(request)
        return JSONResponse(self.api.feed(request.path_params["label"], request.path_params["kind"], offset, limit))

    def annotations(self, request: Request) -> Response:
        offset, limit = _page(request, 50)
        sort = request.query_params.get("sort", "recent")
        if sort not in ("recent", "disagreement"):
            raise ApiError(400, "sort must be recent or disagreement")
        value = request.query_params.get("value", "")
        if value not in ("", "positive", "negative"):
            raise ApiError(400, "value must be positive or negative")
        return JSONResponse(self.api.annotations(
            request.path_params["label"], value=value, annotator=request.query_params.get("annotator", ""),
            since_ms=_int(request, "since_ms", 0), sort=sort, offset=offset, limit=limit))

    # ---- media -------------------------------------------------------------------------------
    def keyframe(self, request: Request) -> Response:
        key = "keyframes/" + request.path_params["key"]
        data = self.media.keyframe(key)
        return Response(data, media_type="image/jpeg",
                        headers={"cache-control": "private, max-age=86400, immutable"})

    def play(self, request: Request) -> Response:
        p = request.path_params
        return JSONResponse(self.media.play(p["video_id"], p["upload_id"], _int(request, "start_ms", 0),
                                            _int(request, "end_ms", 0)))

    def video_source(self, request: Request) -> Response:
        p = request.path_params
        key = self.media.source_key(p["video_id"], p["upload_id"])
        ctype = PLAYABLE.get(Path(key).suffix.lower(), "application/octet-stream")
        headers = {"cache-control": "private, max-age=3600"}
        path = self.media.local_source(key)
        if path is not None:  # range requests handled by Starlette (206, Content-Range, If-Range)
            size = path.stat().st_size
            rng = request.headers.get("range")
            metrics.MEDIA_BYTES.labels("video").inc(_range_len(rng, size))
            return FileResponse(path, media_type=ctype, headers=headers, content_disposition_type="inline",
                                filename=None)
        status, extra, body = self.media.s3_range(key, request.headers.get("range"))
        return StreamingResponse(body, status_code=status, media_type=ctype, headers={**headers, **extra})

    def preview(self, request: Request) -> Response:
        p = request.path_params
        out = self.media.preview(p["video_id"], p["upload_id"], _int(request, "start_ms", 0),
                                 _int(request, "end_ms", 0))
        metrics.MEDIA_BYTES.labels("preview").inc(out.stat().st_size)
        return FileResponse(out, media_type="video/mp4", headers={"cache-control": "private, max-age=3600"})

    # ---- assembly ----------------------------------------------------------------------------
    def routes(self) -> list:
        return [
            Route("/", self.index), Route("/healthz", self.healthz), Route("/readyz", self.readyz),
            Route("/metrics", self.metrics_),
            Route("/api/search", self.search), Route("/api/similar", self.similar),
            Route("/api/similar/clip", self.similar_clip, methods=["POST"]),
            Route("/api/videos/{video_id}", self.video),
            Route("/api/classifiers", self.classifiers),
            Route("/api/classifiers", self.create, methods=["POST"]),
            Route("/api/classifiers/{label}", self.classifier),
            Route("/api/classifiers/{label}/labels", self.labels, methods=["POST"]),
            Route("/api/classifiers/{label}/deploy", self.deploy, methods=["POST"]),
            Route("/api/classifiers/{label}/feeds/{kind}", self.feed),
            Route("/api/classifiers/{label}/annotations", self.annotations),
            Route("/api/play/{video_id}/{upload_id}", self.play),
            Route("/media/keyframes/{key:path}", self.keyframe),
            Route("/media/video/{video_id}/{upload_id}", self.video_source),
            Route("/media/video/{video_id}/{upload_id}/preview", self.preview),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]


def _range_len(header: str | None, size: int) -> int:
    from services.console.media import parse_range

    try:
        a, b = parse_range(header, size)
    except MediaError:
        return 0
    return b - a + 1


async def _api_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=exc.status)
    if isinstance(exc, MediaError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    return JSONResponse({"error": f"the console failed: {type(exc).__name__}: {exc}"}, status_code=500)


def signs_in(token: str, shared: str | None, users: Authenticator | None) -> bool:
    """A user token (any role: the query service enforces which calls it may make) or the shared one."""
    if users is not None:
        return users.identify((("authorization", f"Bearer {token}"),)) is not None
    return bool(shared) and hmac.compare_digest(token, shared)  # type: ignore[arg-type]


class Observe:
    """ASGI middleware: metrics per route (the endpoint's name, bounded) and sign-in.

    Sign-in is either one shared console token (``SHOTLINE_CONSOLE_TOKEN``) or, with
    ``SHOTLINE_API_TOKENS_FILE``, each person's own API token: it is then forwarded on their
    requests to the query API (`CALLER_TOKEN`), which checks their role and records them on labels.
    """

    OPEN = ("/", "/healthz", "/readyz", "/metrics")

    def __init__(self, app: ASGIApp, token: str | None, users: Authenticator | None = None):
        self.app, self.token, self.users = app, token, users

    def _caller(self, scope: Scope) -> str | None:
        """The request's valid token, or None."""
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        cookies = dict(c.strip().split("=", 1) for c in headers.get("cookie", "").split(";") if "=" in c)
        for candidate in (auth[7:] if auth.startswith("Bearer ") else "", cookies.get(COOKIE, "")):
            if candidate and signs_in(candidate, self.token, self.users):
                return candidate
        return None

    def _allowed(self, scope: Scope) -> bool:
        if (not self.token and self.users is None) or scope["path"] in self.OPEN \
                or scope["path"].startswith("/static/"):
            return True
        caller = self._caller(scope)
        if caller is not None and self.users is not None:
            CALLER_TOKEN.set(caller)  # this request's task (and the threads it hands work to) only
        return caller is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}
        CALLER_TOKEN.set(None)  # never a previous request's caller

        async def _send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if not self._allowed(scope):
                await JSONResponse({"error": "sign in: open the console with ?token=… or send a bearer token"},
                                   status_code=401)(scope, receive, _send)
            else:
                await self.app(scope, receive, _send)
        finally:
            endpoint = scope.get("endpoint")
            route = getattr(endpoint, "__name__", None) or ("static" if scope["path"].startswith("/static/")
                                                             else "other")
            metrics.REQUESTS.labels(route, scope["method"], str(status["code"])).inc()
            metrics.REQUEST_DURATION.labels(route).observe(time.perf_counter() - t0)


def build_app(api: QueryApi, media: Media, token: str | None = None,
              users: Authenticator | None = None) -> tuple[Starlette, Console]:
    console = Console(api, media, token, users)
    app = Starlette(routes=console.routes(), exception_handlers={ApiError: _api_error, MediaError: _api_error})
    app.add_middleware(Observe, token=token, users=users)
    return app, console
