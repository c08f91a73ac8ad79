"""What a running `devrun up` knows, as one immutable snapshot.

`StatusBoard` is owned by the session loop: the loop feeds it the events the
Printer emits (and the engine's health events) and it publishes a new
`Snapshot` after each one, swapped in by one attribute assignment. Readers in
other threads (the control server) only ever read `board.snapshot`; a
snapshot's dict is built fresh for each publish and never changed after.

Changes carry ids: each detected batch (and each control request) gets the
next id from the loop; `applied` events close them with an outcome.
`wait_verdict` is the pure answer to "is every change I care about live?"."""

from __future__ import annotations

import collections
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devrun.plan import PublishedPort

MAX_ACTIONS = 20  # per service, newest last
MAX_OUTCOMES = 500  # change ids remembered per service


@dataclass(frozen=True)
class Snapshot:
    seq: int
    data: Mapping[str, Any]  # never mutated after publish
    body: bytes  # data as JSON, ready to serve


@dataclass
class _Service:
    name: str
    state: str = "created"
    container: str | None = None
    exit_code: int | None = None
    health: str | None = None
    ports: list[dict[str, Any]] = field(default_factory=list)
    started_at: float | None = None  # wall clock
    starts: int = 0
    process_restarts: int = 0
    paused: bool = False
    busy: int = 0
    last_error: str | None = None
    actions: collections.deque = field(default_factory=lambda: collections.deque(maxlen=MAX_ACTIONS))
    details: dict[str, Any] = field(default_factory=dict)  # image, name, restart_mode
    last_id: int = 0  # newest change id detected for this service
    outcomes: dict[int, dict[str, Any] | None] = field(default_factory=dict)  # id -> None while pending

    def note_change(self, ids: Iterable[int]) -> None:
        for i in ids:
            self.outcomes.setdefault(i, None)
            self.last_id = max(self.last_id, i)
        while len(self.outcomes) > MAX_OUTCOMES:
            self.outcomes.pop(next(iter(self.outcomes)))

    def view(self, now: float) -> dict[str, Any]:
        pending = sorted(i for i, o in self.outcomes.items() if o is None)
        return {
            "service": self.name,
            "state": self.state,
            "container": self.container,
            "name": self.details.get("name"),
            "image": self.details.get("image"),
            "restart_mode": self.details.get("restart_mode"),
            "exit_code": self.exit_code,
            "health": self.health,
            "ports": [dict(p) for p in self.ports],
            "uptime_s": round(now - self.started_at, 1)
            if self.started_at and self.state == "running"
            else None,
            "restarts": max(0, self.starts - 1) + self.process_restarts,
            "watch_paused": self.paused,
            "busy": self.busy > 0,
            "last_error": self.last_error,
            "last_actions": [dict(a) for a in self.actions],
            "changes": {
                "last_id": self.last_id,
                "pending": pending,
                "outcomes": {str(i): dict(o) for i, o in self.outcomes.items() if o is not None},
            },
        }


class StatusBoard:
    """Loop-owned: `apply(event)` then `publish()`; any thread reads `snapshot`."""

    def __init__(self, project: str, services: list[str], clock: Callable[[], float] = time.time):
        self.project = project
        self._clock = clock
        self._services: dict[str, _Service] = {s: _Service(s) for s in services}
        self._paused_all = False
        self._seq = 0
        self._next_id = 0
        self._extra: dict[str, Any] = {}
        self._listeners: list[Callable[[Snapshot], None]] = []
        self.snapshot = self._build()

    # ---- the loop's side ----------------------------------------------------------

    def next_change_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @property
    def last_change_id(self) -> int:
        return self._next_id

    def service(self, name: str) -> _Service:
        if name not in self._services:
            self._services[name] = _Service(name)
        return self._services[name]

    def set_services(self, names: list[str]) -> None:
        for n in names:
            self.service(n)
        for gone in [n for n in self._services if n not in names]:
            del self._services[gone]

    def set_extra(self, **fields: Any) -> None:
        """Run-wide facts (dashboard URL, pid) shown at the snapshot's top level."""
        self._extra.update(fields)

    def set_paused(self, services: list[str] | None, paused: bool) -> None:
        """`services` None: all (and the ones added later)."""
        if services is None:
            self._paused_all = paused
            for s in self._services.values():
                s.paused = paused
        else:
            for name in services:
                self.service(name).paused = paused

    def set_details(self, service: str, details: Mapping[str, Any]) -> None:
        """Ports, image, container name and restart mode (read once per container)."""
        s = self.service(service)
        s.ports = list(details.get("ports") or [])
        s.details = {k: v for k, v in details.items() if k != "ports"}

    def apply(self, ev: Mapping[str, Any]) -> None:
        """One Printer event (the --json shape) or an engine health event
        (`{"event": "health", "service", "health"}`)."""
        kind = ev.get("event")
        name = ev.get("service")
        if kind in ("ready", "info", "warning", "log", "config_reloaded") or not isinstance(name, str):
            if kind == "error" and ev.get("where") in self._services:
                self.service(ev["where"]).last_error = ev.get("message")
            return
        s = self.service(name)
        now = self._clock()
        if kind == "service_started":
            if s.container != ev.get("container"):
                s.health = None
            s.state, s.container, s.exit_code = "running", ev.get("container"), None
            s.started_at, s.starts = now, s.starts + 1
        elif kind == "container_exited":
            s.state, s.exit_code = "exited", ev.get("exit_code")
            if ev.get("exit_code") not in (0, None):
                lines = ev.get("last_lines") or []
                s.last_error = f"exited with code {ev.get('exit_code')}" + (f": {lines[-1]}" if lines else "")
        elif kind == "service_stopped":
            s.state = "stopped"
        elif kind == "health":
            s.health = ev.get("health")
            if ev.get("state"):
                s.state = ev["state"]
                if ev["state"] == "running" and s.started_at is None:
                    s.started_at = now
        elif kind == "change":
            s.note_change(ev.get("changes") or ())
        elif kind == "action_started":
            s.busy += 1
        elif kind == "action_finished":
            s.busy = max(0, s.busy - 1)
            s.actions.append(
                {
                    k: ev.get(k)
                    for k in ("ts", "action", "ok", "error", "duration_ms", "changes", "stages", "paths")
                }
            )
            if not ev.get("ok", True):
                s.last_error = f"{ev.get('action')}: {ev.get('error')}"
            elif str(ev.get("action", "")).startswith("restart (process)"):
                s.process_restarts += 1
        elif kind == "applied":
            outcome = {"ok": bool(ev.get("ok")), "error": ev.get("error"), "ts": ev.get("ts")}
            s.note_change(ev.get("changes") or ())
            for i in ev.get("changes") or ():
                s.outcomes[i] = outcome
            if ev.get("ok"):
                s.last_error = None if s.state == "running" else s.last_error

    def subscribe(self, listener: Callable[[Snapshot], None]) -> None:
        self._listeners.append(listener)

    def publish(self) -> Snapshot:
        self._seq += 1
        snap = self._build()
        self.snapshot = snap  # one assignment: readers see the old or the new, whole
        for listener in list(self._listeners):
            listener(snap)
        return snap

    def _build(self) -> Snapshot:
        now = self._clock()
        data = {
            "v": 1,
            "project": self.project,
            "pid": os.getpid(),
            "seq": self._seq,
            "watch_paused": self._paused_all,
            "last_change_id": self._next_id,
            **self._extra,
            "services": {name: s.view(now) for name, s in self._services.items()},
        }
        return Snapshot(self._seq, data, json.dumps(data, default=str).encode())


def published_ports(ports: Iterable[PublishedPort]) -> list[dict[str, Any]]:
    """A container's published ports (ContainerState.ports), as `ps` shows them."""
    return [
        {"host_ip": p.host_ip, "published": p.host_port, "target": p.target, "protocol": p.protocol}
        for p in ports
    ]


# ---- "is it live?" ------------------------------------------------------------------


@dataclass(frozen=True)
class WaitTarget:
    """For one service: every change up to `upto` must be finished, and when
    a batch was still open at the barrier (`next_too`), the first change
    after `upto` as well."""

    service: str
    upto: int
    next_too: bool = False


@dataclass(frozen=True)
class Verdict:
    done: bool
    ok: bool = True
    error: str | None = None
    changes: tuple[int, ...] = ()


def wait_verdict(
    snapshot: Mapping[str, Any],
    targets: Iterable[WaitTarget],
    seen: Mapping[str, Mapping[int, Mapping[str, Any]]] | None = None,
) -> Verdict:
    """Pending, or done with the outcome: failed if a change's latest outcome
    failed. `seen`: per service, outcomes of `applied` events the snapshot may
    not hold yet."""
    services = snapshot.get("services", {})
    considered: list[int] = []
    errors: list[str] = []
    for t in targets:
        view = services.get(t.service)
        if view is None:
            continue  # removed from the config: nothing of it to wait for
        early = {str(i): o for i, o in (seen or {}).get(t.service, {}).items()}
        outcomes = {**view["changes"]["outcomes"], **early}
        pending = set(view["changes"]["pending"]) - set(map(int, early))
        known = sorted({*pending, *map(int, outcomes)})
        mine = [i for i in known if i <= t.upto]
        if t.next_too:
            later = [i for i in known if i > t.upto]
            if not later:
                return Verdict(False)
            mine.append(later[0])
        if any(i in pending for i in mine):
            return Verdict(False)
        # the newest change decides: a later run that worked carried the failed one's paths too
        o = outcomes.get(str(max(mine))) if mine else None
        if o is not None and not o["ok"]:
            errors.append(f"{t.service}: {o.get('error')}")
        considered += mine[-20:]
    return Verdict(True, not errors, "; ".join(dict.fromkeys(errors)) or None, tuple(sorted(considered)))
