"""`devrun ps`: its rows (read from the engine) and how it prints them.

Light on purpose: the rendering runs in the fast path of `devrun ps` next to
a running `up` (devrun/cli/fast.py), before typer or docker are imported, and
must print exactly what the engine path prints for the same rows. The running
`up` keeps the rows fresh (`PsCache`): it reads them again after each of the
project's container events, and a `ps` that arrives meanwhile waits for it."""

from __future__ import annotations

import json
import time

TYPE_CHECKING = False  # not typing's, nor threading or datetime up here: `ps` renders before they matter
if TYPE_CHECKING:
    from typing import Any, TextIO

    from devrun.engine.protocol import Engine

# container events that change what `ps` shows (not exec_*, archive, attach...)
PS_ACTIONS = ("create", "start", "restart", "die", "stop", "kill", "pause", "unpause", "destroy", "rename")
STATES = {"created", "running", "paused", "restarting", "removing", "exited", "dead"}


def _created(created: str) -> float:
    return time.time() - (_uptime(created) or 0.0) - 1.0


def _uptime(started: str) -> float | None:
    from datetime import datetime

    try:
        t = datetime.fromisoformat(
            started[:26].rstrip("Z") + "+00:00" if "." in started else started.replace("Z", "+00:00")
        )
    except ValueError:
        return None
    return max(0.0, time.time() - t.timestamp())


def ps_rows(engine: Engine, project: str, *, oneoffs: bool = False) -> list[dict]:
    from devrun import labels
    from devrun.session.ports import read_forwards
    from devrun.session.status import published_ports

    forwards = read_forwards(project)  # a remote engine's ports, served here by the running up
    rows = []
    for o in engine.project_containers(project):
        state = engine.state(o.id)
        oneoff = state.labels.get(labels.ONEOFF)
        if not o.service and not (oneoffs and oneoff):
            continue
        running = state.running
        rows.append(
            {
                "service": o.service or oneoff,
                "container": o.name,
                "id": o.id[:12],
                "full_id": o.id,
                "image": state.image,
                "state": state.status or o.state,
                "exit_code": None if running else state.exit_code,
                # the engine keeps the last health verdict of a stopped container: meaningless then
                "health": state.health if running and not state.paused else None,
                "ports": published_ports(state.ports),
                "uptime_s": round(_uptime(state.started_at) or 0, 1) if running else None,
                "restart_count": max(
                    state.restart_count, engine.start_count(o.id, _created(state.created)) - 1
                ),
                "restart_mode": o.restart_mode,
                "oneoff": bool(oneoff),
            }
        )
        here = [
            {"local": f"127.0.0.1:{f.local_port}", "target": f.target}
            for f in forwards
            if f.service == o.service and not oneoff
        ]
        if here:
            rows[-1]["forwards"] = here
    return rows


def compose_ps_json(row: dict, project: str) -> dict:
    """A `ps --format json` object with compose's field names (those that carry data)."""
    return {
        "ID": row["id"],
        "Name": row["container"],
        "Names": row["container"],
        "Image": row["image"],
        "Project": project,
        "Service": row["service"],
        "State": row["state"],
        "Health": row["health"] or "",
        "ExitCode": row["exit_code"] or 0,
        "Publishers": [
            {
                "URL": p["host_ip"],
                "TargetPort": p["target"],
                "PublishedPort": p["published"],
                "Protocol": p["protocol"],
            }
            for p in row["ports"]
        ],
    }


def render(
    rows: list[dict],
    project: str,
    out: TextIO,
    err: TextIO,
    *,
    all_: bool = False,
    wanted: set[str] | frozenset[str] = frozenset(),
    quiet: bool = False,
    show_services: bool = False,
    fmt: str = "table",
    as_json: bool = False,
) -> None:
    """Print `ps` for these rows (already narrowed to the named services)."""
    for r in rows:
        for p in r["ports"]:
            if p["host_ip"] in ("0.0.0.0", "::", ""):
                print(
                    f"warning: {r['service']}: port {p['published']} is published on all interfaces ({p['host_ip']}), "
                    "so other machines can reach it",
                    file=err,
                )
    if as_json:
        print(json.dumps(rows), file=out)
        return
    hidden = [r for r in rows if not all_ and not wanted and r["state"] != "running"]
    rows = [r for r in rows if r not in hidden and (not wanted or r["state"] in wanted)]
    if quiet:
        for r in rows:
            print(r["full_id"], file=out)
        return
    if show_services:
        for name in sorted({r["service"] for r in rows}):
            print(name, file=out)
        return
    if fmt == "json":
        for r in rows:
            print(json.dumps(compose_ps_json(r, project)), file=out)
        return
    if rows:
        print(f"{'SERVICE':<14} {'STATE':<12} {'HEALTH':<10} {'UPTIME':>8} {'RESTARTS':>8}  PORTS", file=out)
    for r in rows:
        ports = ", ".join(
            f"{p['host_ip']}:{p['published']}->{p['target']}/{p['protocol']}" for p in r["ports"]
        ) + "".join(f", here {f['local']}->{f['target']}/tcp" for f in r.get("forwards", ()))
        up = f"{int(r['uptime_s'])}s" if r["uptime_s"] is not None else "-"
        state = r["state"] if r["exit_code"] is None else f"{r['state']} ({r['exit_code']})"
        service = f"{r['service']} (run)" if r["oneoff"] else r["service"]
        print(
            f"{service:<14} {state:<12} {r['health'] or '-':<10} {up:>8} {r['restart_count']:>8}  {ports}",
            file=out,
        )
    if hidden:
        what = ", ".join(
            f"{r['service']} ({r['state']}"
            + (f", exit code {r['exit_code']})" if r["exit_code"] is not None else ")")
            for r in hidden
        )
        print(f"not running: {what}; `devrun ps -a` lists them, `devrun logs SERVICE` tells why", file=out)
    elif not rows:
        print(f"no running containers for project {project}; run `devrun up`", file=out)


class PsCache:
    """In a running `up`: the project's `ps` rows (one-offs included), read
    again after each container event that changes them. `rows()` answers
    once no read is due, so a `ps` right after a stop sees it stopped."""

    COALESCE = 0.01  # seconds: a burst of events is one read

    def __init__(self, engine: Engine, project: Any):
        import threading

        self._engine = engine
        self._project = project  # () -> the project name now (a config reload may change it)
        self._cond = threading.Condition()
        self._asked = 1  # reads asked for (one per event)
        self._started = 0  # `_asked` when the last read started
        self._done = 0  # `_asked` when the last finished read started
        self._rows: list[dict] | None = None
        self._at = 0.0
        self._stop = False
        threading.Thread(target=self._run, name="ps-cache", daemon=True).start()

    def touch(self, action: str = "start") -> None:
        if action.startswith("health_status") or action in PS_ACTIONS:
            with self._cond:
                self._asked += 1
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._asked == self._started and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
            time.sleep(self.COALESCE)
            with self._cond:
                self._started = gen = self._asked
            try:
                rows = ps_rows(self._engine, self._project(), oneoffs=True)
            except Exception:  # noqa: BLE001 - engine away: read again on the next event
                rows = None
            with self._cond:
                self._rows, self._at, self._done = rows, time.time(), gen
                self._cond.notify_all()

    def rows(self, timeout: float = 2.0) -> list[dict] | None:
        """Rows read after every event so far, uptimes as of now; None when
        none could be read in time."""
        end = time.monotonic() + timeout
        with self._cond:
            target = self._asked
            while self._done < target and time.monotonic() < end:
                self._cond.wait(max(0.0, end - time.monotonic()))
            if self._done < target or self._rows is None:
                return None
            rows, at = self._rows, self._at
        now = time.time()
        return [
            {**r, "uptime_s": None if r["uptime_s"] is None else round(r["uptime_s"] + now - at, 1)}
            for r in rows
        ]
