"""The worker side of live reload: one batch's steps on one service (sync,
restart, signal, exec, rebuild), catch-up after a failure, and the converge
a rebuild shares with a config reload. A worker reads the session's state and
changes it only through messages to the loop (ContainerReplaced, expected stops)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devrun import plan
from devrun.config import loader
from devrun.errors import DevrunError, EngineError
from devrun.session import lifecycle
from devrun.session.actions import ChangeBatch, Step, plan_actions
from devrun.session.reconcile import keep_for, reconcile, sync_into, sync_router
from devrun.session.stages import RunTrack
from devrun.session.sync import bind_echo, plan_sync

if TYPE_CHECKING:
    from devrun.session.runner import Session
    from devrun.watch.rules import Router

STARTED_FRESH = "(was stopped: brought level, started)"


@dataclass(frozen=True)
class ContainerReplaced:
    """A worker recreated a service's container (rebuild): the loop adopts it,
    unless a later converge (`generation`) replaced it again, and then sets
    `adopted`, which the worker waits for before its next step."""

    service: str
    container_id: str
    since: float
    generation: int
    adopted: threading.Event = field(default_factory=threading.Event, compare=False)


def _display(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def _forced(steps: list[Step], batch: ChangeBatch) -> list[Step]:
    """A control call's restart or rebuild, whatever the paths asked for."""
    if "rebuild" in batch.forced:
        return [Step("rebuild", (), batch.paths)]
    if "restart" in batch.forced and not any(st.kind == "restart" for st in steps):
        return [st for st in steps if st.kind != "signal"] + [Step("restart", (), frozenset())]
    return steps


class Worker:
    """LiveReload's worker half (a mixin: it shares LiveReload's state and locks)."""

    session: Session
    synced: set[str]
    _pending: dict[str, ChangeBatch]
    _pending_lock: threading.Lock
    _apply_lock: threading.Lock
    _generation: int
    _router: Router | None
    _router_cfg: loader.LoadedConfig | None

    def _on_worker_error(self, service: str, e: BaseException) -> None:
        self.session.printer.error(f"{service}: {e}")

    def _keep_pending(self, batch: ChangeBatch) -> None:
        with self._pending_lock:
            earlier = self._pending.get(batch.service)
            retry = ChangeBatch(batch.service, batch.paths, batch.rules, catch_up=True, cfg=batch.cfg)
            self._pending[batch.service] = earlier.merge(retry) if earlier else retry

    def _run_batch(self, batch: ChangeBatch) -> None:
        """Run the batch's steps; a batch with change ids ends with `applied`
        (once the service is ready again), whatever happened."""
        track = None
        if batch.changes:
            track = RunTrack(
                self.session.printer, batch.service, batch.changes, batch.detected_at, batch.closed_at
            )
        try:
            self._run_steps(batch, track)
        finally:
            if track is not None:
                track.finish(False, "not applied (devrun is stopping, or the service is gone)")

    def _run_steps(self, batch: ChangeBatch, track: RunTrack | None) -> None:
        s = self.session
        with self._pending_lock:
            earlier = self._pending.pop(batch.service, None)
        if earlier is not None:
            batch = earlier.merge(batch)
        cfg = batch.cfg or s.cfg
        svc = cfg.project.services.get(batch.service)
        if svc is None or s.stopping:
            return
        root = str(cfg.root)
        steps = plan_actions(svc.watch, batch.rules)
        if batch.catch_up:
            steps = self._catch_up(cfg, batch, steps)
            if steps is None:
                return
        steps = _forced(steps, batch)
        failed = started_fresh = False
        first_error = None
        restarts = any(st.kind in ("restart", "signal") for st in steps)
        for step in steps:
            if failed and step.kind not in ("restart", "signal"):
                continue  # an exec assumes the sync worked; the app is restarted all the same
            if started_fresh and step.kind in ("restart", "signal"):
                continue
            shown = [_display(p, root) for p in sorted(step.paths)]
            s.printer.event(
                "action_started",
                service=batch.service,
                action=step.label,
                paths=shown,
                count=len(shown),
                **(track.fields() if track else {}),
            )
            t0 = time.perf_counter()
            error = None
            label = step.label
            try:
                if track is not None:
                    track.kinds.add(step.kind)
                if track is not None and step.kind == "restart" and batch.service in s.containers:
                    track.before_restart(s.engine, svc, s.containers[batch.service])
                elif track is not None and step.kind == "signal":
                    track.before_signal()
                label = self._execute(cfg, batch.service, step, restarts) or label
            except DevrunError as e:
                error = str(e)
                first_error = first_error or error
                if not failed:
                    # pending at once: an unpause or start seen meanwhile must find it
                    self._keep_pending(batch)
                failed = True
            ms = int((time.perf_counter() - t0) * 1000)
            s.printer.event(
                "action_finished",
                service=batch.service,
                action=label,
                paths=shown,
                count=len(shown),
                duration_ms=ms,
                ok=error is None,
                error=error,
                **(track.finished_fields() if track else {}),
            )
            if label.endswith(STARTED_FRESH):
                # the sync had to start the stopped app: it runs the new code already
                started_fresh = True
                if track is not None:
                    track.kinds.add("start")
        if track is not None:
            cid = s.containers.get(batch.service)
            if first_error is None and cid is not None:
                ok, first_error = track.wait_ready(s.engine, svc, cid)
            track.finish(first_error is None, first_error)

    def _catch_up(self, cfg: loader.LoadedConfig, batch: ChangeBatch, steps: list[Step]) -> list[Step] | None:
        """A whole-tree reconcile in place of the batch's syncs; returns the
        steps still to run (restart, signal, exec) for what it changed, or None."""
        s = self.session
        service = batch.service
        cid = s.containers.get(service)
        svc = cfg.project.services[service]
        if cid is None:
            return None
        t0 = time.perf_counter()
        root = str(cfg.root)
        pending = [_display(p, root) for p in sorted(batch.paths)]
        s.printer.event(
            "action_started", service=service, action="sync (level)", paths=pending, count=len(pending)
        )
        try:
            result = reconcile(
                cfg,
                s.engine,
                s.printer,
                service,
                cid,
                s.expect_stop,
                may_start=service not in s.stopped_by_user,
            )
        except DevrunError as e:
            s.printer.event(
                "action_finished",
                service=service,
                action="sync (level)",
                paths=pending,
                count=len(pending),
                duration_ms=int((time.perf_counter() - t0) * 1000),
                ok=False,
                error=str(e),
            )
            self._keep_pending(batch)
            # the app must not stay down because the sync before its restart failed
            return [st for st in steps if st.kind in ("restart", "signal")]
        changed = sorted(p for paths in result.changed.values() for p in paths)
        s.printer.event(
            "action_finished",
            service=service,
            action="sync (level)",
            paths=[_display(p, root) for p in changed],
            count=len(changed),
            duration_ms=int((time.perf_counter() - t0) * 1000),
            ok=True,
            error=None,
        )
        rules = dict(batch.rules)
        for i, paths in result.changed.items():
            rules[i] = rules.get(i, frozenset()) | frozenset(paths)
        later = [st for st in plan_actions(svc.watch, rules) if st.kind != "sync"]
        if result.started:
            later = [st for st in later if st.kind not in ("restart", "signal")]
        return later

    def _execute(
        self, cfg: loader.LoadedConfig, service: str, step: Step, restarts: bool = False
    ) -> str | None:
        s = self.session
        cid = s.containers.get(service)
        if cid is None:
            raise EngineError(f"{service} has no running container")
        if step.kind == "sync":
            return self._sync(cfg, service, cid, step, restarts)
        if step.kind == "exec":
            code = s.engine.exec(
                cid, list(step.argv or ()), lambda stream, line: s.printer.log(service, stream, line)
            )
            if code != 0:
                raise EngineError(f"`{' '.join(step.argv or ())}` exited with code {code}")
        elif step.kind == "signal":
            try:
                s.engine.kill(cid, step.signal or "SIGHUP")
            except EngineError:
                if s.engine.state(cid).running:
                    raise
                # the app crashed (say, on the bad edit being fixed now): a fresh start loads the new code
                s.restart_service(service)
                return f"{step.label} (was not running: started)"
        elif step.kind == "restart":
            mode = s.restart_service(service)
            return f"restart ({mode})"
        elif step.kind == "rebuild":
            # a control call's rebuild (no rule asked for it) recreates even an unchanged image
            return self._rebuild(service, cid, recreate=not step.rules)
        return None

    def _sync(
        self, cfg: loader.LoadedConfig, service: str, cid: str, step: Step, restarts: bool
    ) -> str | None:
        s = self.session
        rule_index = step.rules[0]
        svc = cfg.project.services[service]
        rule = svc.watch[rule_index]
        if bind_echo(rule.target or "/", rule.path, svc.volumes):
            return "sync (skipped: bind-mounted)"
        target = rule.target or "/"
        sp = plan_sync(step.paths, rule.path, target, self._keep(cfg, service, rule_index))
        try:
            sync_into(s.engine, s.printer, service, cid, sp, target)
            return None
        except EngineError as e:
            failure = e  # asked only now: the engine's state costs an extra call on every sync
        state = s.engine.state(cid)
        if not state.running and sp.deletes and restarts and service not in s.stopped_by_user:
            # the app crashed, and the fix may be this very delete: level the
            # stopped container (held start), so the app starts on the new tree
            reconcile(cfg, s.engine, s.printer, service, cid, s.expect_stop)
            return f"sync {STARTED_FRESH}"
        if state.paused or not state.running:
            # the next start or unpause catches up (the batch stays pending)
            waits = "unpause" if state.paused else "start"
            raise EngineError(
                f"{service} is {state.status or 'not running'}: the sync waits for it to {waits}"
            )
        raise failure

    def _keep(self, cfg: loader.LoadedConfig, service: str, rule_index: int):
        if self._router is None or self._router_cfg is not cfg:
            self._router, self._router_cfg = sync_router(cfg), cfg
        return keep_for(self._router, service, rule_index)

    def _rebuild(self, service: str, old_cid: str, recreate: bool = False) -> str | None:
        """Build first: if the build fails the old container keeps running.
        The containers follow the config current when they are replaced: a
        config edit during the build whose build settings differ builds again."""
        s = self.session
        cfg = s.cfg
        while True:
            images = lifecycle.resolve_images(s.engine, cfg, [service], s.printer, force_build=True)
            with self._apply_lock:
                if s.stopping:
                    return "rebuild (built; not applied: stopping)"
                current = s.cfg
                if service not in current.project.services:
                    return "rebuild (service removed from the config)"
                if current.project.services[service].build != cfg.project.services[service].build:
                    cfg = current
                    continue
                cfg = current
                desired = plan.desired_specs(cfg.project, cfg.name, images)
                steps = plan.converge(
                    desired, [o for o in s.engine.project_containers(cfg.name) if o.service == service]
                )
                if recreate:
                    steps = [
                        dataclasses.replace(st, kind="recreate")
                        if st.kind == "keep" and st.service == service
                        else st
                        for st in steps
                    ]
                since = time.time()
                ids = self._apply(cfg, steps)
                new = ids.get(service)
                replaced = None
                if new and new != old_cid:
                    replaced = ContainerReplaced(service, new, since, self._generation)
                    s.submit(replaced)
                for other, cid in ids.items():
                    if other != service and cid != s.containers.get(other):
                        # on this one's network (network_mode: service:X): recreated onto the new one
                        s.submit(ContainerReplaced(other, cid, since, self._generation))
            # outside the lock (a reload on the loop may be waiting for it): follow-up
            # actions must target the new container, which only the loop records
            while replaced is not None and not replaced.adopted.wait(0.1) and not s.stopping:
                pass
            return None

    def _apply(self, cfg: loader.LoadedConfig, steps: list[plan.Step]) -> dict[str, str]:
        """Converge steps, each new or restarted container brought level with
        the host before it starts. devrun's own stops are never reported as
        stops from outside."""
        s = self.session
        for st in steps:
            if st.kind in ("recreate", "remove") and st.container_id:
                s.expect_stop(st.container_id)

        def before_start(service: str, cid: str) -> None:
            reconcile(cfg, s.engine, s.printer, service, cid, s.expect_stop, starting=True)
            self.synced.add(cid)

        def started(service: str, cid: str) -> None:
            s.printer.event("service_started", service=service, container=cid)

        self._generation += 1
        return lifecycle.apply(
            s.engine, cfg, steps, s.printer, started, before_start, expect_stop=s.expect_stop
        )
