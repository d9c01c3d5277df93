"""The page's ASGI application (Starlette): pages, JSON API, the live event stream and the pictures.

Every page and API call but the login needs a session; every state-changing request needs the session's CSRF
token in ``X-CSRF-Token`` (and a same-origin ``Origin`` when the browser sends one). URLs carry opaque study
keys only; patient name, ID and study date travel in the exam's JSON body, to a logged-in user.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Config
from .accounts import AccountStore, Role, Session
from .audit import AuditAction, AuditLog
from .biopsy import ROLES, BiopsyWork
from ..errors import InputError
from .errors import LockedError, LoginError, MammoedgeError, NotFoundError
from .render import Renderer
from .state import ServiceState, check_key

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
COOKIE = "__Host-mammoedge-session"
VIEWS = ("RCC", "LCC", "RMLO", "LMLO")
LAYERS = ("saliency", "asymmetry")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def web_dir(config: Config) -> Path:
    return Path(config.web.state_dir) if config.web.state_dir else Path(config.service.state_dir) / "web"


@dataclass
class WebContext:
    """What the handlers share: configuration, the service's state (read-only), accounts, audit, renderer."""

    config: Config
    state: ServiceState
    accounts: AccountStore
    audit: AuditLog
    renderer: Renderer
    biopsy: BiopsyWork
    tls: bool
    box_cache: tuple[float, dict[str, Any]] | None = None


class SecurityHeaders:
    """Adds the security headers to every response; ``no-store`` on API answers; HSTS under TLS."""

    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = dict(HEADERS)
                if api or scope["path"] in ("/", "/box") or scope["path"].startswith(("/exam/", "/biopsy/")):
                    extra["Cache-Control"] = "no-store"
                if self.tls:
                    extra["Strict-Transport-Security"] = "max-age=31536000"
                headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def _session(request: Request) -> Session | None:
    return _ctx(request).accounts.session(request.cookies.get(COOKIE))


def _require(request: Request, role: Role = Role.TECHNOLOGIST, *, csrf: bool = False) -> Session:
    """The request's session; 401 without one, 403 for a role too low or a missing/wrong CSRF token."""
    session = _session(request)
    if session is None:
        raise HTTPException(401, "log in first")
    if not session.role.allows(role):
        raise HTTPException(403, f"needs the {role.value} role (account has {session.role.value})")
    if csrf:
        _same_origin(request)
        if request.headers.get("x-csrf-token") != session.csrf:
            raise HTTPException(403, "CSRF token missing or wrong (rule: state-changing requests carry X-CSRF-Token)")
    return session


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, "cross-origin request refused (rule: Origin must be this page)")


def page(name: str) -> Callable[[Request], Awaitable[Response]]:
    """A static HTML page behind the login: without a session, a redirect to /login."""

    async def endpoint(request: Request) -> Response:
        if "key" in request.path_params:
            check_key(request.path_params["key"])
        if _session(request) is None:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / name, media_type="text/html")

    return endpoint


async def login_page(request: Request) -> Response:
    return FileResponse(STATIC / "login.html", media_type="text/html")


async def api_login(request: Request) -> Response:
    _same_origin(request)
    ctx = _ctx(request)
    try:
        body = await request.json()
        name, password = str(body["name"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        raise HTTPException(400, "body must be JSON {\"name\": ..., \"password\": ...}") from None
    try:
        token, session = await run_in_threadpool(ctx.accounts.login, name, password)
    except LockedError as exc:
        ctx.audit.write(name[:32], AuditAction.LOCKED)
        return JSONResponse({"error": str(exc)}, status_code=423)
    except LoginError as exc:
        ctx.audit.write(name[:32], AuditAction.LOGIN_FAILED)
        return JSONResponse({"error": str(exc)}, status_code=401)
    ctx.audit.write(session.account, AuditAction.LOGIN)
    response = JSONResponse({"account": session.account, "role": session.role.value, "csrf": session.csrf})
    response.set_cookie(COOKIE, token, max_age=int(session.expires_at - time.time()), path="/", secure=True,
                        httponly=True, samesite="strict")
    return response


async def api_logout(request: Request) -> Response:
    session = _require(request, csrf=True)
    ctx = _ctx(request)
    ctx.accounts.logout(request.cookies.get(COOKIE, ""))
    ctx.audit.write(session.account, AuditAction.LOGOUT)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


async def api_session(request: Request) -> Response:
    session = _require(request)
    return JSONResponse({"account": session.account, "role": session.role.value, "csrf": session.csrf,
                         "expires_at": session.expires_at})


async def api_unlock(request: Request) -> Response:
    session = _require(request, Role.ADMIN, csrf=True)
    ctx = _ctx(request)
    name = request.path_params["name"]
    try:
        ctx.accounts.set_locked(name, False)
    except MammoedgeError as exc:
        raise HTTPException(404, str(exc)) from None
    ctx.audit.write(session.account, AuditAction.UNLOCK, target=name)
    return JSONResponse({"ok": True})


# -- worklist -----------------------------------------------------------------------------------------
async def api_worklist(request: Request) -> Response:
    _require(request)
    return JSONResponse({"now": time.time(), "exams": await run_in_threadpool(_ctx(request).state.worklist_json)})


async def api_events(request: Request) -> Response:
    """Server-sent events: the worklist whenever the queue or the results change (checked every poll_s)."""
    _require(request)
    ctx = _ctx(request)

    async def stream() -> AsyncIterator[str]:
        last: tuple[int, ...] | None = None
        quiet = 0.0
        while not await request.is_disconnected():
            signature = ctx.state.signature()
            if signature != last:
                last = signature
                exams = await run_in_threadpool(ctx.state.worklist_json)
                yield f"event: worklist\ndata: {json.dumps({'now': time.time(), 'exams': exams})}\n\n"
                quiet = 0.0
            elif quiet >= 15.0:
                yield ": keep-alive\n\n"
                quiet = 0.0
            await asyncio.sleep(ctx.config.web.poll_s)
            quiet += ctx.config.web.poll_s
            if _session(request) is None:  # logged out or locked meanwhile
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- exam -----------------------------------------------------------------------------------------------
def _patient(files: list[Path]) -> dict[str, str]:
    """Name, ID and study date from the spooled DICOM: shown on the exam page only, never logged."""
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientName", "PatientID", "StudyDate"])
        except Exception:  # a damaged header: the page shows no identity rather than fail
            continue
        return {"name": str(ds.get("PatientName", "")).replace("^", " ").strip(), "id": str(ds.get("PatientID", "")),
                "study_date": str(ds.get("StudyDate", ""))}
    return {"name": "", "id": "", "study_date": ""}


def _geometry(rows: int, columns: int, max_px: int, name: str) -> dict[str, Any]:
    scale = min(1.0, max_px / max(rows, columns))
    width, height = max(1, round(columns * scale)), max(1, round(rows * scale))
    return {"width": width, "height": height, "scale": width / columns, "mirrored": name.startswith("R")}


def exam_document(ctx: WebContext, key: str) -> dict[str, Any]:
    """What the exam page shows: result, geometry of each view on the page, patient identity."""
    files = ctx.state.spooled(key)
    envelope = ctx.state.envelope(key)
    row = next((r for r in ctx.state.worklist_json() if r["study_key"] == key), None)
    if envelope is None and not files:
        raise NotFoundError("no exam with this key on the box")
    result = (envelope or {}).get("result") or {}
    views: list[dict[str, Any]] = []
    for view in result.get("views", []):
        name = f"{view['laterality']}{view['view']}"
        if name not in VIEWS or any(v["name"] == name for v in views):
            continue
        geometry = _geometry(int(view["rows"]), int(view["columns"]), ctx.config.web.display_max_px, name)
        views.append({"name": name, "score": view.get("score"), "clusters": view.get("clusters", []),
                      "spacing_mm": view.get("spacing_mm", 0.1),
                      "calcifications": len(view.get("calcifications", [])), "geometry": geometry,
                      "saliency": any((c.get("morphology") or {}).get("saliency") for c in view.get("clusters", []))})
    findings = {a["projection"]: a for a in ((result.get("risk") or {}).get("asymmetry") or [])}
    for view in views:
        finding = findings.get(view["name"][1:]) or {}
        view["asymmetry"] = bool(finding.get("picture"))
        # the top window on this side's normalized view (x0, y0, x1, y1 px), outlined over the heat layer
        window = finding.get("left_window" if view["name"].startswith("L") else "right_window") or {}
        view["asymmetry_window"] = window.get("view_box")
    return {"study_key": key, "patient": _patient(files), "status": row, "views": views,
            "triage": result.get("triage"), "breasts": result.get("breasts", []), "risk": result.get("risk"),
            "models": result.get("models", []), "views_not_analyzed": result.get("views_not_analyzed", []),
            "complete": (envelope or {}).get("complete"), "missing_views": (envelope or {}).get("missing_views", []),
            "rejected": (envelope or {}).get("rejected", []), "analyzed": (envelope or {}).get("analyzed"),
            "not_analyzed": (envelope or {}).get("not_analyzed"), "software_version": result.get("software_version"),
            "created_utc": result.get("created_utc"), "kind": (envelope or {}).get("kind", "screening"),
            "biopsy": (envelope or {}).get("biopsy")}


async def api_exam(request: Request) -> Response:
    session = _require(request)
    ctx = _ctx(request)
    key = check_key(request.path_params["key"])
    document = await run_in_threadpool(exam_document, ctx, key)
    ctx.audit.write(session.account, AuditAction.OPEN_EXAM, key)
    return JSONResponse(document)


def _view_result(ctx: WebContext, key: str, name: str) -> dict[str, Any]:
    result = (ctx.state.envelope(key) or {}).get("result") or {}
    for view in result.get("views", []):
        if f"{view['laterality']}{view['view']}" == name:
            return dict(view)
    raise NotFoundError(f"the exam's result has no view {name!r}")


async def api_view(request: Request) -> Response:
    _require(request)
    ctx = _ctx(request)
    key, name = check_key(request.path_params["key"]), request.path_params["name"]
    if name not in VIEWS:
        raise NotFoundError(f"view must be one of {', '.join(VIEWS)}")
    view = await run_in_threadpool(_view_result, ctx, key, name)
    geometry = _geometry(int(view["rows"]), int(view["columns"]), ctx.config.web.display_max_px, name)
    png = await run_in_threadpool(ctx.renderer.view, key, name, ctx.state.spooled(key), geometry)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


async def api_layer(request: Request) -> Response:
    _require(request)
    ctx = _ctx(request)
    key, name, layer = check_key(request.path_params["key"]), request.path_params["name"], request.path_params["layer"]
    if name not in VIEWS or layer not in LAYERS:
        raise NotFoundError(f"view must be one of {', '.join(VIEWS)} and layer one of {', '.join(LAYERS)}")
    view = await run_in_threadpool(_view_result, ctx, key, name)
    geometry = _geometry(int(view["rows"]), int(view["columns"]), ctx.config.web.display_max_px, name)
    files = ctx.state.spooled(key)
    pictures = ctx.state.paths.results / "exams"
    if layer == "saliency":
        png = await run_in_threadpool(ctx.renderer.saliency_layer, key, name, files, geometry,
                                      view.get("clusters", []), pictures)
    else:
        risk = ((ctx.state.envelope(key) or {}).get("result") or {}).get("risk") or {}
        picture = next((a.get("picture") for a in risk.get("asymmetry") or [] if a["projection"] == name[1:]), None)
        if not picture:
            raise NotFoundError("the exam has no asymmetry heatmap (risk not assessed)")
        png = await run_in_threadpool(ctx.renderer.asymmetry_layer, key, name, files, geometry,
                                      ctx.state.exam_file(key, picture))
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


# -- biopsy -------------------------------------------------------------------------------------------
def biopsy_document(ctx: WebContext, key: str) -> dict[str, Any]:
    files = ctx.state.spooled(key)
    envelope = ctx.state.envelope(key) or {}
    if not files:
        raise NotFoundError("no exam with this key on the box")
    return {"study_key": key, "patient": _patient(files), "kind": envelope.get("kind"),
            "biopsy": envelope.get("biopsy"), "views": ctx.biopsy.geometry(key, files)}


async def api_biopsy(request: Request) -> Response:
    session = _require(request)
    ctx = _ctx(request)
    key = check_key(request.path_params["key"])
    document = await run_in_threadpool(biopsy_document, ctx, key)
    ctx.audit.write(session.account, AuditAction.OPEN_BIOPSY, key)
    return JSONResponse(document)


async def api_biopsy_view(request: Request) -> Response:
    _require(request)
    ctx = _ctx(request)
    key, role = check_key(request.path_params["key"]), request.path_params["role"]
    if role not in ROLES:
        raise NotFoundError(f"stereo image must be one of {', '.join(ROLES)}")
    png, _ = await run_in_threadpool(ctx.biopsy.picture, key, ctx.state.spooled(key), ROLES[role])
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


async def api_biopsy_target(request: Request) -> Response:
    """Recompute the target for the cluster nearest a point on the scout (radiologist; shown, not stored)."""
    session = _require(request, Role.RADIOLOGIST, csrf=True)
    ctx = _ctx(request)
    key = check_key(request.path_params["key"])
    try:
        body = await request.json()
        at = (float(body["x"]), float(body["y"]))
    except (ValueError, KeyError, TypeError):
        raise HTTPException(400, "body must be JSON {\"x\": column, \"y\": row} on the scout, px") from None
    try:
        result = await run_in_threadpool(ctx.biopsy.retarget, key, ctx.state.spooled(key), at)
    except InputError as exc:  # no target near there, or the set is refused: say why
        return JSONResponse({"error": str(exc)}, status_code=422)
    ctx.audit.write(session.account, AuditAction.RETARGET_BIOPSY, key)
    return JSONResponse({"biopsy": result})


# -- box ----------------------------------------------------------------------------------------------
def box_document(ctx: WebContext) -> dict[str, Any]:
    """Health (as ``mammoedge status``), models and devices, PACS send queue, update state. No patient data."""
    from ..service.health import health_snapshot
    from ..telemetry.inventory import status_fields, update_fields

    now = time.time()
    if ctx.box_cache is None or now - ctx.box_cache[0] > 60.0:  # models and devices change only with an update
        ctx.box_cache = (now, {**status_fields(ctx.config), **update_fields(ctx.config)})
    static = ctx.box_cache[1]
    try:
        health: dict[str, Any] | None = health_snapshot(ctx.config).as_dict()
    except sqlite3.Error as exc:  # a read-only WAL reader needs the service running (its -shm file)
        log.warning("queue database not readable for the box view: %s", type(exc).__name__)
        health = None
    return {"health": health, "models": static.get("models", {}),
            "devices": static.get("devices", []), "update": static.get("update"),
            "web": {"tls": ctx.tls, "accounts": len(ctx.accounts.list())}}


async def api_box(request: Request) -> Response:
    _require(request)
    return JSONResponse(await run_in_threadpool(box_document, _ctx(request)))


# -- errors ---------------------------------------------------------------------------------------------
async def not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=404)


async def input_error(request: Request, exc: Exception) -> Response:
    """A spooled file the reader refuses now (its typed message names the attribute and rule, no patient data)."""
    return JSONResponse({"error": str(exc), "reason": getattr(exc, "reason", "invalid-input")}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 401 and not request.url.path.startswith("/api/"):
        return RedirectResponse("/login", status_code=303)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


def create_app(config: Config, *, tls: bool) -> Starlette:
    """The page for ``config``; ``tls`` says whether it is served over HTTPS (headers only)."""
    folder = web_dir(config)
    state = ServiceState(config)
    accounts = AccountStore(folder / "accounts.sqlite", lockout_failures=config.web.lockout_failures,
                            session_s=config.web.session_hours * 3600.0)
    audit = AuditLog(folder / "audit.jsonl")
    ctx = WebContext(config=config, state=state, accounts=accounts, audit=audit, renderer=Renderer(config),
                     biopsy=BiopsyWork(config), tls=tls)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        accounts.close()
        audit.close()

    routes = [
        Route("/", page("worklist.html")),
        Route("/login", login_page),
        Route("/exam/{key}", page("exam.html")),
        Route("/biopsy/{key}", page("biopsy.html")),
        Route("/box", page("box.html")),
        Route("/api/login", api_login, methods=["POST"]),
        Route("/api/logout", api_logout, methods=["POST"]),
        Route("/api/session", api_session),
        Route("/api/accounts/{name}/unlock", api_unlock, methods=["POST"]),
        Route("/api/worklist", api_worklist),
        Route("/api/events", api_events),
        Route("/api/exam/{key}", api_exam),
        Route("/api/exam/{key}/view/{name}.png", api_view),
        Route("/api/exam/{key}/layer/{name}/{layer}.png", api_layer),
        Route("/api/biopsy/{key}", api_biopsy),
        Route("/api/biopsy/{key}/view/{role}.png", api_biopsy_view),
        Route("/api/biopsy/{key}/target", api_biopsy_target, methods=["POST"]),
        Route("/api/box", api_box),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders, tls=tls)], lifespan=lifespan,
                    exception_handlers={NotFoundError: not_found, InputError: input_error,
                                        HTTPException: http_error})
    app.state.ctx = ctx
    return app
