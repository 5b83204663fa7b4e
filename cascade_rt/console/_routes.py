"""The console's HTTP routes: pages, ``/admin/...`` JSON, the live-update stream and actions.

Pages (``GET /``, ``/console/...``) are rendered on the server from the same data the JSON
endpoints answer; ``GET /admin/events?page=...`` is a Server-Sent Events stream of the page's
re-rendered live region (sent when it changed, checked every ``interval`` seconds). Every answer
carries ``Content-Security-Policy: default-src 'self'``.

Actions (``POST``) need ``CASCADE_ADMIN_TOKEN``: either ``Authorization: Bearer <token>``, or a
browser session opened by signing in with the token (an ``HttpOnly``, ``SameSite=Strict``
cookie) plus the page's CSRF token in ``X-CSRF-Token`` and, when the browser sends one, an
``Origin`` of this server. Without the variable the console is read-only (403).
"""

from __future__ import annotations

import functools
import hmac
from typing import Any

import anyio
import anyio.to_thread
import orjson
from aiohttp import web

import actors

from ..ingest import JSON, error_response, json_errors
from . import _collect
from ._assets import assets as collect_assets
from ._dead_letters import ReplayError, dead_letter_groups, replay_group
from ._render import frame, render_live
from ._state import ConsoleState
from ._tables import table_detail, table_summary

__all__ = ("OPENAPI_PATHS", "add_console")

CSP = "default-src 'self'"
SESSION_COOKIE = "cascade_console"
STATIC = ("console.css", "console.js")
TAIL_LIMIT = 50
TITLES = {"overview": "Overview", "pipelines": "Pipelines", "tables": "Tables", "streams": "Streams",
          "dead-letters": "Dead letters", "assets": "Assets", "actors": "Actors"}
SLOW_PAGES = {"table": 5.0, "assets": 5.0, "tables": 3.0}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data, default=str), content_type=JSON,
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


def _static(name: str) -> bytes:
    from importlib.resources import files

    return (files("cascade_rt.console") / "static" / name).read_bytes()


def _resolve_table(runtime: Any, name: str) -> str:
    sink = runtime.tables.get(name)
    if sink is not None:
        return str(sink.identifier)
    if "." in name:
        return name
    raise web.HTTPNotFound(reason=f"no table named {name!r}; known: {', '.join(sorted(runtime.tables)) or 'none'}")


class Console:
    """The console over one runtime (see the module docstring)."""

    def __init__(self, state: ConsoleState, *, interval: float = 1.0) -> None:
        self.state = state
        self.runtime = state.runtime
        self.interval = interval

    # -- data --------------------------------------------------------------------------------

    async def data(self, page: str, request: web.Request) -> Any:
        """What ``page``'s JSON endpoint answers (``name``/``q`` from the query where they apply)."""
        rt, state = self.runtime, self.state
        if page == "overview":
            readings = await state.read()
            listed = await anyio.to_thread.run_sync(collect_assets, rt)
            return _collect.overview(rt, state, readings, listed)
        if page == "pipelines":
            return _collect.pipelines(rt, state, await state.read())
        if page == "tables":
            return await self._tables(await state.read())
        if page == "table":
            name = request.match_info.get("name") or request.query.get("name", "")
            identifier = _resolve_table(rt, name)
            readings = await state.read()
            try:
                detail = await anyio.to_thread.run_sync(table_detail, rt.catalog, identifier)
            except Exception as exc:
                if type(exc).__name__ == "NoSuchTableError":
                    raise web.HTTPNotFound(reason=f"no table {identifier!r} in the catalog") from exc
                raise
            table_name = next((n for n, s in rt.tables.items() if s.identifier == identifier), name)
            return {"name": table_name, **detail, "writer": _collect.table_figures(table_name, readings)}
        if page == "streams":
            return _collect.streams(rt, state)
        if page == "stream":
            return self._tail(request)
        if page == "dead-letters":
            return dead_letter_groups(rt, state)
        if page == "assets":
            return {"assets": await anyio.to_thread.run_sync(collect_assets, rt)}
        if page == "actors":
            return _collect.actors(await state.read())
        raise web.HTTPNotFound(reason=f"no console page {page!r}; pages: {', '.join(TITLES)}")

    async def _tables(self, readings: Any) -> dict[str, Any]:
        rt = self.runtime
        entries = [(name, sink.identifier) for name, sink in rt.tables.items()]
        if rt.assets is not None:
            entries += [(a.identifier, a.identifier) for a in rt.assets.assets()
                        if a.identifier not in {i for _, i in entries}]

        def summaries() -> list[dict[str, Any]]:
            out = []
            for name, identifier in entries:
                try:
                    summary = table_summary(rt.catalog, identifier)
                except Exception as exc:
                    summary = {"identifier": identifier, "error": f"{type(exc).__name__}: {exc}"}
                out.append({"name": name, **summary, "commits": (readings.writers.get(name) or {}).get("commits")})
            return out

        return {"tables": await anyio.to_thread.run_sync(summaries)}

    def _tail(self, request: web.Request) -> dict[str, Any]:
        rt = self.runtime
        name = request.match_info.get("name") or request.query.get("name", "")
        stream = rt.streams.get(name) or rt.dead_letter_queues.get(name)
        if stream is None:
            known = ", ".join(sorted([*rt.streams, *rt.dead_letter_queues])) or "none"
            raise web.HTTPNotFound(reason=f"no stream named {name!r}; known: {known}")
        try:
            limit = max(1, min(1000, int(request.query.get("limit", TAIL_LIMIT))))
        except ValueError:
            raise web.HTTPBadRequest(reason="limit must be an integer") from None
        query = request.query.get("q", "").lower()
        table = stream.read(None if query else limit)
        records = table.to_pylist()
        records.reverse()
        if query:
            records = [r for r in records if query in orjson.dumps(r, default=str).decode().lower()][:limit]
        return {"name": name, "retained": len(stream.log), "records": records}

    # -- handlers ----------------------------------------------------------------------------

    def _session(self, request: web.Request) -> str | None:
        session = request.cookies.get(SESSION_COOKIE)
        return session if session and session in self.state.sessions else None

    async def page(self, page: str, request: web.Request) -> web.Response:
        data = await self.data(page, request)
        session = self._session(request)
        actions = self.state.actions_enabled
        live = render_live(page, data, actions=actions and session is not None)
        name = request.match_info.get("name", "")
        title = f"{TITLES.get(page, page.title())}" if not name else name
        static = ""
        events = f"/admin/events?page={page}" + (f"&name={name}" if name else "")
        if page == "stream":
            static = ('<div class="toolbar"><input type="search" id="filter" placeholder="filter records" '
                      'aria-label="filter records" data-filter=".tail"></div>')
        if page == "actors":
            static = ('<div class="toolbar"><input type="search" id="filter" placeholder="filter actors" '
                      'aria-label="filter actors" data-filter=".actors"></div>')
        body = frame(page if page not in ("table", "stream") else f"{page}s", title, live, static=static,
                     csrf=self.state.csrf_token(session), admin=session is not None, actions=actions, events=events)
        return web.Response(text=body, content_type="text/html",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                     "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})

    async def json(self, page: str, request: web.Request) -> web.Response:
        return _json(await self.data(page, request))

    async def events(self, request: web.Request) -> web.StreamResponse:
        page = request.query.get("page", "overview")
        if page not in (*TITLES, "table", "stream"):
            raise web.HTTPNotFound(reason=f"no console page {page!r}")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "Content-Security-Policy": CSP, "X-Accel-Buffering": "no"})
        await response.prepare(request)
        session = self._session(request)
        actions = self.state.actions_enabled and session is not None
        interval = SLOW_PAGES.get(page, self.interval)
        last = ""
        try:
            while not self.runtime.shutting_down:
                html = render_live(page, await self.data(page, request), actions=actions)
                message = orjson.dumps({"html": html}) if html != last else b'{"same":true}'
                last = html
                await response.write(b"event: live\ndata: " + message + b"\n\n")
                await anyio.sleep(interval)
        except (ConnectionResetError, anyio.BrokenResourceError):
            pass
        return response

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name not in STATIC:
            raise web.HTTPNotFound(reason=f"no console file {name!r}")
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return web.Response(body=_static(name), content_type=kind,
                            headers={"Cache-Control": "max-age=300", "Content-Security-Policy": CSP})

    # -- actions -----------------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> None:
        state = self.state
        if not state.actions_enabled:
            raise _Refused(403, "the console is read-only: set CASCADE_ADMIN_TOKEN to enable actions")
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            if state.token_matches(presented.strip()):
                return
            raise _Refused(401, "wrong admin token")
        session = self._session(request)
        if session is None:
            raise _Refused(401, "sign in with the admin token (or send Authorization: Bearer <token>)")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise _Refused(403, f"cross-origin request from {origin!r} refused")
        expected = state.csrf_token(session)
        if not hmac.compare_digest(request.headers.get("X-CSRF-Token", "").encode(), expected.encode()):
            raise _Refused(403, "missing or wrong X-CSRF-Token")

    async def replay(self, request: web.Request) -> web.Response:
        self._authorize(request)
        try:
            result = await replay_group(self.runtime, self.state, request.match_info["queue"],
                                        request.match_info["group"])
        except ReplayError as exc:
            return error_response(exc.status, str(exc))
        return _json(result)

    async def run_asset(self, request: web.Request) -> web.Response:
        self._authorize(request)
        body = await request.read()
        try:
            options = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            return error_response(400, "the body must be a JSON object")
        if not isinstance(options, dict):
            return error_response(400, "the body must be a JSON object")
        name = request.match_info["name"]
        runner = self.runtime.assets
        if runner is None:
            return error_response(409, "this runtime runs no assets")
        try:
            runner.asset(name)
        except KeyError as exc:
            return error_response(404, str(exc.args[0]))
        branch = options.get("branch") or "main"
        try:
            if options.get("start") or options.get("end"):
                results = await runner.backfill(name, options.get("start"), options.get("end") or options.get("start"),
                                                branch=branch)
            else:
                results = [await runner.run_asset(name, partition_date=options.get("partition_date"), branch=branch)]
        except ValueError as exc:
            return error_response(400, str(exc))
        return _json({"runs": [r.to_dict() for r in results]})

    async def restart_actor(self, request: web.Request) -> web.Response:
        self._authorize(request)
        path = request.query.get("path", "")
        system = self.runtime.system
        ref = system.lookup(path) if system is not None and path else None
        if ref is None:
            return error_response(404, f"no actor at {path!r} (paths are as on the actors page)")
        if ref is system.root:
            return error_response(400, "the root actor cannot restart; stop the runtime instead")
        before = ref.statistics().restarts
        try:
            ref.restart("restart asked from the console")
        except actors.ActorStopped as exc:
            return error_response(409, str(exc))
        return _json({"actor": ref.path, "restarts_before": before})

    async def login(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        if not state.actions_enabled:
            return error_response(403, "the console is read-only: set CASCADE_ADMIN_TOKEN to enable actions")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return error_response(403, f"cross-origin sign-in from {origin!r} refused")
        form = await request.post()
        if not state.token_matches(str(form.get("token", ""))):
            return error_response(401, "wrong admin token")
        response = web.Response(status=303, headers={"Location": _same_site(request.headers.get("Referer"))})
        response.set_cookie(SESSION_COOKIE, state.open_session(), httponly=True, samesite="Strict", path="/")
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            self.state.sessions.discard(session)
        response = web.Response(status=303, headers={"Location": "/"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response


class _Refused(web.HTTPException):
    def __init__(self, status: int, message: str) -> None:
        self.status_code = status
        super().__init__(reason=message)


def _same_site(referer: str | None) -> str:
    """The path of ``referer`` (never another site) to return to after signing in."""
    from urllib.parse import urlsplit

    path = urlsplit(referer or "/").path or "/"
    return path if path.startswith("/") and not path.startswith("//") else "/"


def add_console(app: web.Application, runtime: Any, *, admin_token: str | None = None,
                interval: float = 1.0) -> Console:
    """Adds the console's routes to ``app`` (call it before the catch-all route is added)."""
    console = Console(ConsoleState.create(runtime, admin_token), interval=interval)
    get = app.router.add_get
    pages = {"/": "overview", "/console": "overview", "/console/pipelines": "pipelines", "/console/tables": "tables",
             "/console/tables/{name}": "table", "/console/streams": "streams", "/console/streams/{name}": "stream",
             "/console/dead-letters": "dead-letters", "/console/assets": "assets", "/console/actors": "actors"}
    for path, page in pages.items():
        get(path, json_errors(functools.partial(console.page, page)))
    endpoints = {"/admin/overview": "overview", "/admin/pipelines": "pipelines", "/admin/tables": "tables",
                 "/admin/tables/{name}": "table", "/admin/streams": "streams",
                 "/admin/streams/{name}/tail": "stream", "/admin/dead-letters": "dead-letters",
                 "/admin/assets": "assets", "/admin/actors/flat": "actors"}
    for path, page in endpoints.items():
        get(path, json_errors(functools.partial(console.json, page)))
    get("/admin/events", json_errors(console.events))
    get("/console/static/{file}", json_errors(console.static))
    app.router.add_post("/admin/dead-letters/{queue}/groups/{group}/replay", json_errors(console.replay))
    app.router.add_post("/admin/assets/{name}/run", json_errors(console.run_asset))
    app.router.add_post("/admin/actors/restart", json_errors(console.restart_actor))
    app.router.add_post("/console/login", json_errors(console.login))
    app.router.add_post("/console/logout", json_errors(console.logout))
    return console


def _op(summary: str, *, post: bool = False, params: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": ["console"],
                          "responses": {"200": {"description": "JSON", "content": {"application/json": {}}}}}
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    if post:
        op["security"] = [{"adminToken": []}]
        op["responses"]["403"] = {"description": "actions disabled (no CASCADE_ADMIN_TOKEN) or CSRF check failed"}
    return {"post" if post else "get": op}


OPENAPI_PATHS: dict[str, Any] = {
    "/admin/overview": _op("Every pipeline, table, stream, ingest API, asset and top-level actor with a status and why"),
    "/admin/pipelines": _op("Pipeline graphs: nodes, edges with records/s, endpoint latency, table lag"),
    "/admin/tables": _op("Tables with rows, files, snapshots and last commit"),
    "/admin/tables/{name}": _op("A table: schema, snapshots, files and small files, writer figures, first rows",
                                params=("name",)),
    "/admin/streams": _op("Streams and dead-letter queues with their counters"),
    "/admin/streams/{name}/tail": _op("The newest retained records of a stream (?limit=, ?q= filter)",
                                      params=("name",)),
    "/admin/dead-letters": _op("Dead letters grouped by error and source, with samples"),
    "/admin/dead-letters/{queue}/groups/{group}/replay": _op(
        "Replays a group of dead letters into its ingest API or stream (failures return to the queue)",
        post=True, params=("queue", "group")),
    "/admin/assets": _op("Assets: schedule, next run, freshness, last runs"),
    "/admin/assets/{name}/run": _op("Runs an asset now ({partition_date}) or a backfill ({start, end}); {branch}",
                                    post=True, params=("name",)),
    "/admin/actors/flat": _op("The supervision tree as rows, parents first, with depth"),
    "/admin/actors/restart": _op("Restarts the actor at ?path= through its supervisor (as a crash would)", post=True),
    "/admin/events": _op("Server-Sent Events: a console page's live region (?page=, ?name=)"),
}
