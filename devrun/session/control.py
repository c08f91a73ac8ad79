"""The running `up` served on 127.0.0.1: state snapshot, event stream (SSE),
control calls and the dashboard's own assets.

Runs in its own thread with its own asyncio loop (aiohttp, imported only when
`up` starts this). It READS the snapshot the session loop publishes and
CONTROLS only by handing requests to `Steer`, which submits messages to the
loop. One aiohttp runner serves a unix socket in the state folder (the CLI)
and a TCP port on 127.0.0.1 (the browser).

Security: every request carries the run's random token (header
`X-Devrun-Token` or `Authorization: Bearer`, or the cookie the dashboard link
sets); over TCP the Host must be 127.0.0.1 or localhost with our port, and an
Origin, when sent, must be ours; no CORS headers; changes only by POST with a
JSON body; nothing served but the routes below and the dashboard's files."""

from __future__ import annotations

import asyncio
import collections
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from importlib import resources
from typing import Any

from aiohttp import web

from devrun.session import endpoint
from devrun.session.status import Snapshot, StatusBoard, wait_verdict

COOKIE = "devrun_token"
LOG_RING = 1000  # log events kept per service for `logs` and the dashboard
EVENT_RING = 2000  # events kept for a stream that asks for the recent past
CLIENT_QUEUE = 20000  # events a slow stream client may fall behind before it is dropped
ASSETS = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
CONTROLS = ("restart", "rebuild", "sync", "pause", "resume", "stop")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


class EventHub:
    """Every event the Printer emits, fanned out to stream clients; the recent
    past kept in rings. `publish` runs on the emitting thread and never blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._recent: collections.deque[tuple[int, dict]] = collections.deque(maxlen=EVENT_RING)
        self._logs: dict[str, collections.deque[tuple[int, dict]]] = {}
        self._clients: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self.watchers: list[Callable[[dict[str, Any]], None]] = []  # on the emitting thread
        # per service: its current container, the sequence from which log lines are that
        # container's, how many came, and whether they are its whole log (`mark`)
        self._current: dict[str, tuple[str | None, int, int, bool]] = {}
        # when this up began following logs (Steer sets it): a container created since is whole
        self.origin = float("inf")

    def publish(self, ev: dict[str, Any]) -> None:
        for watch in self.watchers:
            watch(ev)
        with self._lock:
            self._seq += 1
            item = (self._seq, ev)
            name = ev.get("service", "")
            if ev.get("event") == "service_started":
                cid, since, count, whole = self._current.get(name, (None, 0, 0, False))
                if cid != ev.get("container"):
                    self._current[name] = (ev.get("container"), self._seq, 0, False)
            if ev.get("event") == "log":
                cid, since, count, whole = self._current.get(name, (None, 0, 0, False))
                self._current[name] = (cid, since, count + 1, whole)
                ring = self._logs.get(ev.get("service", ""))
                if ring is None:
                    ring = self._logs[ev.get("service", "")] = collections.deque(maxlen=LOG_RING)
                ring.append(item)
            else:
                self._recent.append(item)
            clients = list(self._clients)
        for loop, q in clients:
            try:
                loop.call_soon_threadsafe(_offer, q, item)
            except RuntimeError:
                pass  # the server's loop is closing

    def recent(self, logs: bool, services: set[str] | None = None, tail: int = 200) -> list[tuple[int, dict]]:
        with self._lock:
            items = list(self._recent)
            if logs:
                for name, ring in self._logs.items():
                    if services is None or name in services:
                        items += list(ring)[-tail:]
        return sorted(items, key=lambda x: x[0])

    def mark(self, service: str, cid: str, created: float | None) -> None:
        """The container was created at `created` (epoch): after `origin`, this
        up printed its log from the first line."""
        with self._lock:
            now = self._current.get(service)
            if now is not None and now[0] == cid and created is not None and created >= self.origin:
                self._current[service] = (*now[:3], True)

    def current(self, services: list[str], tail: int | None) -> tuple[bool, list[tuple[int, dict]]]:
        """The last `tail` (None: all) log lines of each service's current
        container, and whether they are all of them (this `up` saw at least that
        many, or the whole log, and keeps them), so they are what the engine's
        own tail would give."""
        with self._lock:
            complete = True
            items: list[tuple[int, dict]] = []
            for name in services:
                _cid, since, count, whole = self._current.get(name, (None, 0, 0, False))
                mine = [it for it in self._logs.get(name, ()) if it[0] > since]
                if tail is None:
                    complete = complete and whole and count == len(mine)
                    items += mine
                else:
                    complete = complete and tail <= min(count, len(mine))
                    items += mine[-tail:] if tail else []
        return complete, sorted(items, key=lambda x: x[0])

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=CLIENT_QUEUE)
        with self._lock:
            self._clients.add((loop, q))
        return q

    def unsubscribe(self, loop: asyncio.AbstractEventLoop, q: asyncio.Queue) -> None:
        with self._lock:
            self._clients.discard((loop, q))


def _offer(q: asyncio.Queue, item: Any) -> None:
    try:
        q.put_nowait(item)
    except asyncio.QueueFull:
        pass  # the client fell too far behind: it sees a gap in the ids


class ControlServer:
    def __init__(self, project: str, board: StatusBoard, hub: EventHub, steer: Any, config: str = ""):
        self.project = project
        self.board = board
        self.hub = hub
        self.steer = steer
        self.config = config
        self.token = secrets.token_urlsafe(32)
        self.port = 0
        self.socket = endpoint.socket_path(project)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._pid = os.getpid()
        self.info_extra: dict[str, Any] = {}  # more for the control file (set before start)
        # `applied` outcomes as emitted, ahead of the board (which the session loop
        # updates one thread hop later): a `wait` answers the moment the edit is live
        self._applied: dict[str, dict[int, dict[str, Any]]] = {}
        hub.watchers.append(self._on_applied)

    # ---- lifecycle (from the caller's thread) ---------------------------------------

    def start(self, timeout: float = 10) -> None:
        started: Future = Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="control", daemon=True)
        self._thread.start()
        started.result(timeout)
        self.board.subscribe(self._snapshot_published)
        endpoint.write_info(
            self.project,
            {
                "pid": self._pid,
                "project": self.project,
                "socket": self.socket,
                "port": self.port,
                "token": self.token,
                "config": self.config,
                "url": self.url,
                **self.info_extra,
            },
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def stop(self, timeout: float = 5) -> None:
        endpoint.remove_info(self.project, self._pid)
        loop = self._loop
        if loop is None or self._thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        except Exception:  # noqa: BLE001 - stopping: nothing more to do about it
            pass
        self._thread.join(timeout)

    def _run(self, started: Future) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(started))
        except BaseException as e:  # noqa: BLE001 - told to the starter
            if not started.done():
                started.set_exception(e)
        finally:
            loop.close()

    async def _serve(self, started: Future) -> None:
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/assets/{name}", self._asset)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/logs", self._logs)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/wait", self._wait)
        for kind in CONTROLS:
            app.router.add_post(f"/api/{kind}", self._control)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        self._runner = runner
        try:
            os.unlink(self.socket)
        except OSError:
            pass
        old = os.umask(0o177)
        try:
            unix = web.UnixSite(runner, self.socket)
            await unix.start()
        finally:
            os.umask(old)
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        self.port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set_result(True)
        await self._closing.wait()
        await runner.cleanup()
        try:
            os.unlink(self.socket)
        except OSError:
            pass

    async def _shutdown(self) -> None:
        assert self._closing is not None
        self._closing.set()

    def _snapshot_published(self, _snap: Snapshot) -> None:
        # on the session loop: wake the waiters in the server's loop
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:
                pass

    def _on_applied(self, ev: dict[str, Any]) -> None:
        if ev.get("event") != "applied":
            return
        outcome = {"ok": bool(ev.get("ok")), "error": ev.get("error"), "ts": ev.get("ts")}
        service = str(ev.get("service"))
        seen = {**self._applied.get(service, {}), **dict.fromkeys(ev.get("changes") or (), outcome)}
        # replaced, never changed in place: the server's thread reads it unlocked
        self._applied = {**self._applied, service: dict(list(seen.items())[-500:])}
        self._snapshot_published(self.board.snapshot)

    def _wake(self) -> None:
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- the guard ------------------------------------------------------------------

    def _over_tcp(self, request: web.Request) -> bool:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        return isinstance(peer, tuple)

    def _refusal(self, request: web.Request) -> str | None:
        if self._over_tcp(request):
            hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
            if request.headers.get("Host", "") not in hosts:
                return "Host is not this server (127.0.0.1 or localhost with its port)"
            origin = request.headers.get("Origin")
            if origin is not None and origin not in {f"http://{h}" for h in hosts}:
                return "Origin is not this server's"
            # a page on another port is same-site: the browser sends it the cookie,
            # and without an Origin header on a plain GET (an <img>, a <script>)
            if request.headers.get("Sec-Fetch-Site", "none") not in ("same-origin", "none"):
                return "a request made by another site's page (Sec-Fetch-Site)"
        given = (
            request.headers.get(endpoint.TOKEN_HEADER)
            or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            or request.cookies.get(COOKIE)
            or (request.query.get("token") if request.method == "GET" and request.path == "/" else None)
        )
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return "a valid token is required (the link `devrun up` printed, or the state folder's file)"
        if request.method == "POST" and request.content_type != "application/json":
            return "changes are POSTs with a JSON body"
        if request.method not in ("GET", "POST", "HEAD"):
            return "only GET and POST"
        return None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        why = self._refusal(request)
        if why is not None:
            res: web.StreamResponse = web.json_response({"error": why}, status=403)
        else:
            try:
                res = await handler(request)
            except web.HTTPException as e:
                res = web.json_response({"error": e.reason}, status=e.status)
        for k, v in SECURITY_HEADERS.items():
            if not res.prepared:
                res.headers.setdefault(k, v)
        return res

    # ---- routes -------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        res = await self._asset_named("index.html")
        if request.query.get("token"):
            res.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return res

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        return await self._asset_named(request.match_info["name"])

    async def _asset_named(self, name: str) -> web.Response:
        if name not in ASSETS:
            raise web.HTTPNotFound(reason="no such file")
        data = resources.files("devrun.dashboard").joinpath(name).read_bytes()
        return web.Response(body=data, content_type=ASSETS[name], charset="utf-8")

    async def _status(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.board.snapshot.body, content_type="application/json")

    async def _ps(self, _request: web.Request) -> web.Response:
        """`devrun ps` rows as the engine path reads them (PsCache), with the
        project's service names: 503 when the engine could not be read."""
        ps = getattr(self.steer, "ps", None)
        rows = None if ps is None else await asyncio.get_running_loop().run_in_executor(None, ps.rows)
        if rows is None:
            return web.json_response({"error": "no fresh container list"}, status=503)
        services = list(self.steer.session.cfg.project.services)
        return web.json_response({"project": self.project, "services": services, "rows": rows})

    async def _logs(self, request: web.Request) -> web.Response:
        services = set(request.query.getall("service", [])) or None
        tail = _int(request.query.get("tail"), 200)
        if request.query.get("current") == "1":  # `devrun logs [--tail N]` (cli/nearby.py)
            whole = request.query.get("tail") == "all"
            complete, items = self.hub.current(request.query.getall("service", []), None if whole else tail)
            return web.json_response({"complete": complete, "events": items})
        items = self.hub.recent(logs=True, services=services, tail=tail)
        return web.json_response([ev for _, ev in items if ev.get("event") == "log"])

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """SSE: the same events as --json, one `data:` line each, `id:` the hub's
        sequence. `?recent=1` first replays the recent past (with `tail` log
        lines per service), `?logs=0` leaves log lines out, `service=` filters."""
        logs = request.query.get("logs", "1") != "0"
        services = set(request.query.getall("service", [])) or None
        loop = asyncio.get_running_loop()
        q = self.hub.subscribe(loop)
        res = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        for k, v in SECURITY_HEADERS.items():
            res.headers.setdefault(k, v)
        await res.prepare(request)
        assert self._closing is not None
        try:
            if request.query.get("recent") == "1":
                tail = _int(request.query.get("tail"), 200)
                for seq, ev in self.hub.recent(logs, services, tail):
                    await res.write(_sse(seq, ev))
            closing = asyncio.ensure_future(self._closing.wait())
            try:
                while True:
                    getter = asyncio.ensure_future(q.get())
                    done, _ = await asyncio.wait({getter, closing}, timeout=15, return_when="FIRST_COMPLETED")
                    if closing in done:
                        getter.cancel()
                        break
                    if getter not in done:
                        getter.cancel()
                        await res.write(b": keep-alive\n\n")
                        continue
                    seq, ev = getter.result()
                    if not logs and ev.get("event") == "log":
                        continue
                    if services is not None and ev.get("service") not in services:
                        continue
                    await res.write(_sse(seq, ev))
            finally:
                closing.cancel()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.hub.unsubscribe(loop, q)
        return res

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(reason="the body is not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(reason="the body must be a JSON object")
        services = body.get("services") or []
        if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
            raise web.HTTPBadRequest(reason="services must be a list of names")
        return body

    async def _control(self, request: web.Request) -> web.Response:
        kind = request.path.rsplit("/", 1)[1]
        body = await self._body(request)
        try:
            accepted = await asyncio.wrap_future(self.steer.request(kind, body.get("services") or []))
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        if not body.get("wait") or not accepted.get("targets"):
            return web.json_response({k: v for k, v in accepted.items() if k != "targets"}, status=202)
        verdict = await self._until(accepted["targets"], _float(body.get("timeout")))
        return web.json_response(
            {**{k: v for k, v in accepted.items() if k != "targets"}, **verdict},
            status=200 if verdict["ok"] else 500 if verdict["done"] else 504,
        )

    async def _wait(self, request: web.Request) -> web.Response:
        """Every change detected before this request (and any batch still being
        debounced) applied, and its service ready again."""
        t0 = time.monotonic()
        body = await self._body(request)
        try:
            targets = await asyncio.wrap_future(self.steer.barrier(body.get("services") or []))
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        verdict = await self._until(targets, _float(body.get("timeout")))
        verdict["waited_ms"] = int((time.monotonic() - t0) * 1000)
        return web.json_response(verdict, status=200 if verdict["ok"] else 500 if verdict["done"] else 504)

    async def _until(self, targets: list, timeout: float | None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            changed = self._changed
            assert changed is not None
            v = wait_verdict(self.board.snapshot.data, targets, self._applied)
            if v.done:
                return {"done": True, "ok": v.ok, "error": v.error, "changes": list(v.changes)}
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                pending = sorted({t.service for t in targets})
                return {
                    "done": False,
                    "ok": False,
                    "error": f"not live within {timeout:g}s: {', '.join(pending)} still applying",
                    "changes": [],
                }
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                pass


def _sse(seq: int, ev: dict[str, Any]) -> bytes:
    return f"id: {seq}\ndata: {json.dumps(ev, ensure_ascii=False, default=str)}\n\n".encode()


def _int(text: str | None, default: int) -> int:
    try:
        return max(0, int(text)) if text is not None else default
    except ValueError:
        return default


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
