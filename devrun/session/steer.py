"""The session side of steering a running `up`: the only code that turns
control requests into loop messages, and the loop handlers that keep the
status board.

Threads: `request` and `barrier` are called from the control server's thread
and only submit messages; every handler here runs on the session loop, which
alone owns the board, the change ids and the paused set. The Printer's
listener runs on whichever thread emitted: it feeds the event hub (never
blocks) and submits the event to the loop for the board."""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devrun.engine.protocol import EngineEvent
from devrun.session.messages import StopRequest, WatchBatch
from devrun.session.project_lock import STOP_FOR_DOWN
from devrun.session.runner import Session
from devrun.session.status import StatusBoard, WaitTarget, published_ports

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine

ACTIONS = ("restart", "rebuild", "sync")


@dataclass(frozen=True)
class Observed:
    """An event the Printer emitted (the --json shape), for the board."""

    ev: dict


@dataclass(frozen=True)
class ControlRequest:
    kind: str  # restart | rebuild | sync | pause | resume | stop
    services: tuple[str, ...]
    reply: Future


@dataclass(frozen=True)
class BarrierReached:
    """Every file event before a `wait` was read; `pending`: services whose
    batch was still being debounced then."""

    services: tuple[str, ...]
    pending: frozenset[str]
    reply: Future


class Steer:
    def __init__(self, session: Session, board: StatusBoard, hub: Any, live: Any = None):
        self.session = session
        self.board = board
        self.hub = hub
        self.live = live
        self._held: dict[str, WatchBatch] = {}
        self._paused_all = False
        self._paused: set[str] = set()
        self._forward = None
        self.ps: Any = None  # a psrows.PsCache, when serving

    def install(self) -> None:
        s = self.session
        early = s.early_events
        if len(early) < (early.maxlen or 0) and hasattr(self.hub, "origin"):
            # nothing dropped: the hub holds every line since the up began following logs
            self.hub.origin = getattr(s, "_since", None) or float("inf")
        # one assignment: from here on every event comes to _on_printed, none to the early buffer
        s.printer.listeners = [*(fn for fn in s.printer.listeners if fn != early.append), self._on_printed]
        for ev in list(early):
            self.hub.publish(ev)
        early.clear()
        s.on(Observed, self._on_observed)
        s.on(ControlRequest, self._on_control)
        s.on(BarrierReached, self._on_barrier)
        s.container_listeners.append(self._on_engine_event)
        self._forward = s.handlers.get(WatchBatch)
        if self._forward is not None:
            s.on(WatchBatch, self._on_batch)
        if self.ps is not None:
            # every container event of the project (one-offs, replaced containers too) may change `ps`
            ps, handle = self.ps, s.handlers.get(EngineEvent)

            def on_engine_event(ev: Any) -> None:
                ps.touch(ev.action)
                if handle is not None:
                    handle(ev)

            s.on(EngineEvent, on_engine_event)

    # ---- any thread -------------------------------------------------------------

    def _on_printed(self, ev: dict) -> None:
        self.hub.publish(ev)
        if ev.get("event") != "log":
            self.session.submit(Observed(ev))

    def request(self, kind: str, services: list[str]) -> Future:
        fut: Future = Future()
        self.session.submit(ControlRequest(kind, tuple(services), fut))
        return fut

    def barrier(self, services: list[str]) -> Future:
        fut: Future = Future()
        watcher = getattr(self.live, "watcher", None)

        def reached(pending: set[str | None]) -> None:
            named = frozenset(p for p in pending if p is not None)
            self.session.submit(BarrierReached(tuple(services), named, fut))

        if watcher is not None and hasattr(watcher, "barrier"):
            watcher.barrier(reached)
        else:
            reached(set())
        return fut

    # ---- the loop -----------------------------------------------------------------

    def _publish(self) -> None:
        self.board.publish()

    def _on_observed(self, msg: Observed) -> None:
        self.board.apply(msg.ev)
        if msg.ev.get("event") == "service_started":
            self.describe(msg.ev["service"], msg.ev["container"])
        self._publish()

    def describe(self, service: str, cid: str) -> None:
        try:
            details = container_details(self.session.engine, cid)
        except Exception:  # noqa: BLE001 - gone again: its own events say so
            return
        created = details.pop("created", None)
        self.board.set_details(service, details)
        mark = getattr(self.hub, "mark", None)
        if mark is not None and created:
            from devrun.session.psrows import _uptime

            ago = _uptime(created)
            mark(service, cid, None if ago is None else time.time() - ago)

    def _on_engine_event(self, ev: Any) -> None:
        action = ev.action
        if action.startswith("health_status"):
            self.board.apply(
                {"event": "health", "service": ev.service, "health": action.split(":")[-1].strip()}
            )
        elif action in ("pause", "unpause"):
            state = "paused" if action == "pause" else "running"
            self.board.apply({"event": "health", "service": ev.service, "health": None, "state": state})
        else:
            return
        self._publish()

    def _watching(self, service: str | None) -> bool:
        live = self.live
        return (
            service is not None
            and live is not None
            and service in getattr(live, "workers", {})
            and service in self.session.containers
            and not self.session.stopping
        )

    def _paused_now(self, service: str) -> bool:
        return self._paused_all or service in self._paused

    def _on_batch(self, msg: WatchBatch) -> None:
        assert self._forward is not None
        if not self._watching(msg.service):
            self._forward(msg)
            return
        service = msg.service
        assert service is not None
        cid = self.board.next_change_id()
        # noted here, on the loop: a `wait` handled next already finds it pending
        self.board.service(service).note_change([cid])
        msg = dataclasses.replace(msg, changes=(*msg.changes, cid))
        if self._paused_now(service):
            held = self._held.get(service)
            self._held[service] = _merge(held, msg) if held else msg
            root = str(self.session.cfg.root)
            self.session.printer.event(
                "change",
                service=service,
                paths=[_display(p, root) for p in msg.paths],
                count=len(msg.paths),
                changes=[cid],
                held=True,
            )
            self._publish()
            return
        self._publish()
        self._forward(msg)

    def _on_control(self, msg: ControlRequest) -> None:
        s = self.session
        known = list(s.services)
        unknown = [n for n in msg.services if n not in known]
        if msg.kind not in (*ACTIONS, "pause", "resume", "stop"):
            msg.reply.set_exception(ValueError(f"unknown control {msg.kind}"))
            return
        if unknown:
            msg.reply.set_exception(ValueError(f"no such service: {', '.join(unknown)}"))
            return
        services = list(msg.services) or known
        if msg.kind == "stop":
            s.submit(StopRequest(STOP_FOR_DOWN))
            msg.reply.set_result({"ok": True, "action": "stop", "services": services})
            return
        if msg.kind in ("pause", "resume"):
            self._pause(list(msg.services) or None, msg.kind == "pause")
            msg.reply.set_result({"ok": True, "action": msg.kind, "services": services})
            return
        if self.live is None or not hasattr(self.live, "trigger"):
            msg.reply.set_exception(ValueError(f"{msg.kind} needs watching (devrun up without --no-watch)"))
            return
        changes, targets = [], []
        now = time.monotonic()
        for name in services:
            if name not in s.containers:
                continue
            cid = self.board.next_change_id()
            self.board.service(name).note_change([cid])
            self.live.trigger(name, msg.kind, cid, now)
            changes.append(cid)
            targets.append(WaitTarget(name, cid))
        self._publish()
        msg.reply.set_result(
            {"ok": True, "action": msg.kind, "services": services, "changes": changes, "targets": targets}
        )

    def _pause(self, services: list[str] | None, paused: bool) -> None:
        printer = self.session.printer
        if services is None:
            self._paused_all = paused
            self._paused.clear()
        elif paused:
            self._paused.update(services)
        else:
            self._paused.difference_update(services)
            if self._paused_all:  # resume some while all were paused: the others stay paused
                self._paused_all = False
                self._paused = {n for n in self.session.services if n not in services}
        self.board.set_paused(None, False)
        self.board.set_paused(list(self.session.services) if self._paused_all else sorted(self._paused), True)
        if self._paused_all:
            self.board.set_paused(None, True)
        which = "all services" if services is None else ", ".join(services)
        printer.info(f"watching {'paused' if paused else 'resumed'} for {which}")
        self._publish()
        if not paused:
            for name in [n for n in self._held if not self._paused_now(n)]:
                held = self._held.pop(name)
                if self._watching(name):
                    assert self._forward is not None
                    self._forward(held)  # the edits made meanwhile, applied once

    def _on_barrier(self, msg: BarrierReached) -> None:
        names = list(msg.services) or list(self.session.services)
        unknown = [n for n in names if n not in self.session.services]
        if unknown:
            msg.reply.set_exception(ValueError(f"no such service: {', '.join(unknown)}"))
            return
        upto = self.board.last_change_id
        msg.reply.set_result([WaitTarget(n, upto, n in msg.pending and self._watching(n)) for n in names])


def _merge(a: WatchBatch, b: WatchBatch) -> WatchBatch:
    rules = {i: tuple(sorted({*a.rules.get(i, ()), *b.rules.get(i, ())})) for i in {*a.rules, *b.rules}}
    return dataclasses.replace(
        b,
        paths=tuple(sorted({*a.paths, *b.paths})),
        rules=rules,
        changes=(*a.changes, *b.changes),
        detected_at=min((x for x in (a.detected_at, b.detected_at) if x is not None), default=None),
    )


def _display(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def container_details(engine: Engine, cid: str) -> dict[str, Any]:
    """What `ps` shows of a container beyond the events: ports, image, name, mode."""
    state = engine.state(cid)
    return {
        "ports": published_ports(state.ports),
        "image": state.image,
        "name": state.name,
        "restart_mode": state.restart_mode,
        "created": state.created,
    }


def serve(session: Session) -> Any:
    """Start the control server of a running `up` (aiohttp imported only now);
    prints the dashboard link once. Returns the server (stop() it at the end)."""
    from devrun.config.model import normalise_project_name
    from devrun.session.control import ControlServer, EventHub
    from devrun.session.psrows import PsCache

    board = StatusBoard(session.cfg.name, list(session.services))
    steer = Steer(session, board, EventHub(), live=session.live)
    steer.ps = PsCache(session.engine, lambda: session.cfg.name)
    for service, cid in session.containers.items():
        board.apply({"event": "service_started", "service": service, "container": cid})
    steer.install()
    for service, cid in session.containers.items():
        steer.describe(service, cid)  # after install: the hub knows the containers then
    server = ControlServer(session.cfg.name, board, steer.hub, steer, config=str(session.cfg.file))
    cfg = session.cfg
    # the name a command run without -p derives from this config: only then may it find this up by its file
    server.info_extra["default_name"] = not cfg.compose and cfg.name == normalise_project_name(
        cfg.project.name or cfg.root.name
    )
    server.start()
    board.set_extra(dashboard=f"http://127.0.0.1:{server.port}/")
    board.publish()
    session.printer.info(f"dashboard: {server.url}")
    return server
