"""The FastAPI application: the page, the versioned REST API and the health check.

    from deepdetector.web import WebSettings, create_app
    app = create_app(WebSettings(db_path=Path("scans.sqlite3")))   # then serve it with uvicorn

API (also described by ``/openapi.json``):

- ``POST /api/v1/scans`` multipart upload (field ``file``) -> 202 ``{"id", "status", "url"}``
- ``GET /api/v1/scans`` history, newest first
- ``GET /api/v1/scans/{id}`` status, progress and, when done, ``result``: the JSON record of
  ``deepdetector scan --json`` (``FileResult.to_dict()``)
- ``GET /api/v1/scans/{id}/heatmaps/{n}.png`` a face's heatmap picture
- ``POST/DELETE /api/v1/session`` sign the page in/out with the token (an HttpOnly cookie)
- ``GET /healthz``
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from deepdetector import __version__
from deepdetector.config import ScanConfig
from deepdetector.errors import ConfigError
from deepdetector.web.settings import WebSettings
from deepdetector.web.store import ScanRecord, ScanStore
from deepdetector.web.upload import FILE_FIELD, UploadRejected, receive_upload
from deepdetector.web.worker import DetectorFactory, ScanQueue, WorkerPool, upload_path

log = logging.getLogger("deepdetector.web")

API = "/api/v1"
SCAN_ID = r"^[0-9a-f]{32}$"
SESSION_COOKIE = "deepdetector_session"
STATIC_DIR = Path(str(resources.files("deepdetector.web") / "static"))
RETRY_AFTER_S = 30  # what a client is told to wait when the queue is full (header and message agree)

# Same-origin only: the page loads nothing from elsewhere and cannot be framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


# -- response models (they make the OpenAPI schema) ----------------------------------------------
class ScanCreated(BaseModel):
    id: str = Field(description="Scan id (32 hex digits); the page shows it at /scans/{id}.")
    status: Literal["queued"]
    url: str = Field(description="Where to poll for the result.")


class Progress(BaseModel):
    done: int = Field(description="Frames analysed so far.")
    total: int = Field(description="Frames to analyse (0 until known).")


class HeatmapRef(BaseModel):
    n: int
    face: int = Field(description="Index of the face in result.faces.")
    frame_index: int
    track_id: int
    probability: float
    url: str


class ScanSummary(BaseModel):
    id: str
    filename: str = Field(description="The uploaded file's name, as sent by the client (display only).")
    media_type: str = Field(description="Type recognised from the file's content, e.g. image/jpeg.")
    kind: Literal["image", "video"]
    size: int
    status: Literal["queued", "running", "done", "error"]
    created: float = Field(description="Unix time of the upload.")
    started: float | None
    finished: float | None
    verdict: Literal["fake", "real", "no_face", "error"] | None
    probability: float | None
    error: str | None
    url: str
    page: str = Field(description="Stable link to this scan's page.")


class ScanDetail(ScanSummary):
    progress: Progress
    queue_position: int | None = Field(description="1 = next to be analysed; null unless queued.")
    result: dict[str, Any] | None = Field(
        description="When done: the JSON record of `deepdetector scan --json` for this file (FileResult.to_dict(); "
        "schema in deepdetector/report/schema.json, $defs/file). `path` is the uploaded file's name; each face's "
        "`heatmap_file` is the URL of its heatmap picture when one was drawn."
    )
    heatmaps: list[HeatmapRef]


class ScanList(BaseModel):
    scans: list[ScanSummary]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: str | None
    workers: int
    queued: int
    running: int
    queue_capacity: int
    max_upload_bytes: int
    auth: bool = Field(description="Whether the API needs the bearer token.")


class SessionRequest(BaseModel):
    token: str


class ErrorBody(BaseModel):
    detail: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


# -- the service behind the routes ---------------------------------------------------------------
@dataclass
class WebService:
    """What the routes share: settings, database, queue and workers."""

    settings: WebSettings
    store: ScanStore
    queue: ScanQueue
    pool: WorkerPool

    @property
    def model_label(self) -> str | None:
        return self.pool.detectors[0].model_label if self.pool.detectors else None

    def session_value(self) -> str:
        """The cookie value that stands for the token (a keyed hash, so the cookie is not the token)."""
        assert self.settings.token
        return hmac.new(self.settings.token.encode(), b"deepdetector-web-session", hashlib.sha256).hexdigest()


def _default_detector(config: ScanConfig) -> Any:
    from deepdetector.api import Detector

    return Detector(config)


def _summary(r: ScanRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "filename": r.filename,
        "media_type": r.media_type,
        "kind": r.kind,
        "size": r.size,
        "status": r.status,
        "created": r.created,
        "started": r.started,
        "finished": r.finished,
        "verdict": r.verdict,
        "probability": r.probability,
        "error": r.error,
        "url": f"{API}/scans/{r.id}",
        "page": f"/scans/{r.id}",
    }


def page_html() -> str:
    """The page (static/index.html) with its file picker's ``accept`` list filled in from
    :data:`deepdetector.media.kinds.MEDIA_EXTENSIONS`."""
    from deepdetector.media.kinds import MEDIA_EXTENSIONS

    accept = ",".join(["image/*", "video/*", *sorted(MEDIA_EXTENSIONS)])
    text = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    marker = 'accept="image/*,video/*"'
    if marker not in text:  # pragma: no cover - a broken package
        raise ConfigError("the web page in the package has no file picker to fill in")
    return text.replace(marker, f'accept="{accept}"')


def validation_sentence(errors: list[dict[str, Any]]) -> str:
    """One sentence for FastAPI's validation records, e.g. "the path parameter scan_id ('x') is not
    valid: String should match pattern '^[0-9a-f]{32}$'"."""
    kinds = {"path": "the path parameter", "query": "the query parameter", "header": "the header", "body": "the field", "cookie": "the cookie"}
    parts = []
    for err in errors or [{}]:
        loc = [str(x) for x in err.get("loc", ())]
        kind = kinds.get(loc[0], "the value") if loc else "the request"
        name = " ".join([kind, ".".join(loc[1:])]).strip() if len(loc) > 1 else kind
        given = f" ({err['input']!r})" if isinstance(err.get("input"), (str, int, float)) else ""
        parts.append(f"{name}{given} is not valid: {err.get('msg', 'malformed')}")
    return "; ".join(parts)


def create_app(settings: WebSettings | None = None, detector_factory: DetectorFactory | None = None) -> FastAPI:
    """Build the web application.

    Opens (or creates) the database and builds one detector per worker now, so a bad setting or a
    missing model raises here (:class:`ConfigError`, :class:`deepdetector.errors.ModelError`)
    rather than when the first scan runs. Workers start, and scans left queued or running by an
    earlier run are queued again, when the application starts (the ASGI lifespan).
    """
    settings = settings or WebSettings()
    settings.validate()
    try:
        settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the uploads folder {settings.uploads_dir}: {exc.strerror or exc}") from None
    store = ScanStore(settings.db_path)
    queue = ScanQueue(settings.queue_size)
    pool = WorkerPool(
        store, queue, settings.uploads_dir, settings.scan, settings.workers, settings.max_heatmaps,
        detector_factory or _default_detector,
    )  # fmt: skip
    service = WebService(settings, store, queue, pool)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        queued, given_up = store.recover(settings.max_attempts)
        for scan_id in given_up:
            upload_path(settings.uploads_dir, scan_id).unlink(missing_ok=True)
        for scan_id in queued:
            queue.put(scan_id, reserved=False, force=True)
        if queued:
            log.info("resuming %d scan(s) left from the previous run", len(queued))
        pool.start()
        try:
            yield
        finally:
            pool.stop()

    app = FastAPI(
        title="DeepDetector",
        version=__version__,
        summary="Offline deepfake detection for face images and videos.",
        description="Upload an image or a video; poll the scan until it is done; read the verdict, the "
        "calibrated probability, each face's heatmap and, for videos, the probability over time.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI / ReDoc load scripts from a CDN; the service must work offline
        redoc_url=None,
    )
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def readable_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default 422 body is a list of records; the API promises a sentence in "detail"
        # (the records stay under "errors" for programs)
        return JSONResponse(status_code=422, content={"detail": validation_sentence(exc.errors()), "errors": jsonable_encoder(exc.errors())})

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    bearer = HTTPBearer(auto_error=False, description="Needed only when the server was started with --token.")

    def require_auth(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        token = settings.token
        if not token:
            return
        if credentials is not None and secrets.compare_digest(credentials.credentials.encode(), token.encode()):
            return
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and secrets.compare_digest(cookie.encode(), service.session_value().encode()):
            return
        raise HTTPException(401, "a valid bearer token is needed", headers={"WWW-Authenticate": "Bearer"})

    api = APIRouter(prefix=API, dependencies=[Depends(require_auth)], responses=_errors(401))
    scan_id_param = PathParam(pattern=SCAN_ID, description="Scan id, as returned by POST /api/v1/scans.")

    @api.post(
        "/scans",
        status_code=202,
        response_model=ScanCreated,
        summary="Upload an image or a video to scan",
        responses=_errors(400, 413, 415, 429, 507),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": [FILE_FIELD],
                            "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                        }
                    }
                },
            }
        },
    )
    async def create_scan(request: Request) -> JSONResponse:
        """Queue a scan of the uploaded file and return its id at once (HTTP 202); poll its URL.

        The file's type is recognised from its content. Refused: no or empty file (400), larger
        than the server's limit (413), not an image or video (415), queue full (429, retry later).
        """
        if not queue.reserve():
            raise HTTPException(429, f"the scan queue is full; try again in {RETRY_AFTER_S} seconds", headers={"Retry-After": str(RETRY_AFTER_S)})
        scan_id = uuid.uuid4().hex
        dest = upload_path(settings.uploads_dir, scan_id)
        queued = False
        try:
            upload = await receive_upload(request, dest, settings.max_upload_bytes)
            store.add(scan_id, upload.filename, upload.media.mime, upload.media.kind, upload.size)
            queue.put(scan_id, reserved=True)
            queued = True
        except UploadRejected as exc:
            raise HTTPException(exc.status_code, exc.message) from None
        except ClientDisconnect:
            return JSONResponse({"detail": "the upload was interrupted"}, status_code=400)
        except OSError as exc:
            log.error("cannot store an upload: %s", exc)
            raise HTTPException(507, "the server could not store the file (disk full or not writable)") from None
        finally:
            if not queued:  # refused, broken or abandoned: give the place back and keep no file
                queue.release()
                dest.unlink(missing_ok=True)
        url = f"{API}/scans/{scan_id}"
        return JSONResponse({"id": scan_id, "status": "queued", "url": url}, status_code=202, headers={"Location": url})

    @api.get("/scans", response_model=ScanList, summary="History of scans, newest first")
    def list_scans(limit: int = Query(50, ge=1, le=settings.history_limit), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        records, total = store.list(limit, offset)
        return {"scans": [_summary(r) for r in records], "total": total, "limit": limit, "offset": offset}

    @api.get("/scans/{scan_id}", response_model=ScanDetail, responses=_errors(404), summary="A scan's status and result")
    def get_scan(scan_id: str = scan_id_param) -> dict[str, Any]:
        record = store.get(scan_id)
        if record is None:
            raise HTTPException(404, "no scan with this id")
        heatmaps = [
            {
                "n": h.n, "face": h.face, "frame_index": h.frame_index, "track_id": h.track_id,
                "probability": round(float(h.probability), 4), "url": f"{API}/scans/{scan_id}/heatmaps/{h.n}.png",
            }
            for h in store.heatmaps(scan_id)
        ]  # fmt: skip
        return {
            **_summary(record),
            "progress": {"done": record.progress_done, "total": record.progress_total},
            "queue_position": queue.position(scan_id) if record.status == "queued" else None,
            "result": record.result,
            "heatmaps": heatmaps,
        }

    @api.get(
        "/scans/{scan_id}/heatmaps/{n}.png",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "PNG: the face crop, and the same crop with its heatmap."}, **_errors(404)},
        summary="A face's heatmap picture",
    )
    def get_heatmap(scan_id: str = scan_id_param, n: int = PathParam(ge=0)) -> Response:
        png = store.heatmap_png(scan_id, n)
        if png is None:
            raise HTTPException(404, "no such heatmap")
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"})

    app.include_router(api)

    session = APIRouter(prefix=API, tags=["session"])

    @session.post("/session", status_code=204, responses=_errors(401), summary="Sign the page in with the token")
    def sign_in(body: SessionRequest) -> Response:
        """Checks the token and sets an HttpOnly, SameSite=Strict cookie, so that the page (and
        its heatmap pictures) work without sending the token on every request."""
        if not settings.token:
            return Response(status_code=204)
        if not secrets.compare_digest(body.token.encode(), settings.token.encode()):
            raise HTTPException(401, "wrong token")
        response = Response(status_code=204)
        response.set_cookie(SESSION_COOKIE, service.session_value(), httponly=True, samesite="strict", path="/")
        return response

    @session.delete("/session", status_code=204, summary="Sign the page out")
    def sign_out() -> Response:
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    app.include_router(session)

    @app.get("/healthz", response_model=Health, summary="Liveness and queue state")
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "model": service.model_label,
            "workers": pool.size,
            "queued": len(queue),
            "running": store.count("running"),
            "queue_capacity": queue.capacity,
            "max_upload_bytes": settings.max_upload_bytes,
            "auth": bool(settings.token),
        }

    # The page: one document; its script reads the scan id from the address. Its file picker offers
    # the types of the one list of media extensions (media/kinds.py) besides image/* and video/*
    # (a browser may not file .ts, .mts or .heic under those).
    index = page_html()

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(index, headers={"Cache-Control": "no-cache"})

    @app.api_route("/scans/{scan_id}", methods=["GET", "HEAD"], include_in_schema=False)
    def scan_page(scan_id: str = scan_id_param) -> HTMLResponse:
        return HTMLResponse(index, headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
