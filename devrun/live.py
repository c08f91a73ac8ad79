"""Live reload: watch rules -> debounced batches -> per-service workers ->
steps applied to the running containers; and hot reload of devrun's own config.

The watcher only enqueues WatchBatch messages on the session's queue; the
session loop (one consumer) prints the change and hands the batch to the
service's worker, or reloads the config. Workers run the steps that
`actions.plan_actions` decides, one batch at a time per service."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from devrun import lifecycle, loader, plan
from devrun.actions import ChangeBatch, ServiceWorker, Step, plan_actions
from devrun.checks import start_order
from devrun.errors import ConfigError, DevrunError, EngineError
from devrun.ignore import GitignoreCache
from devrun.runner import Session, WatchBatch
from devrun.sync import (
    SyncPlan,
    bind_echo,
    guarded_delete_command,
    initial_plan,
    max_file_bytes,
    plan_sync,
    write_tar,
)
from devrun.watch import Batch, Watcher
from devrun.watch_rules import Router, WatchSpec

CONFIG_KEY = None  # WatchSpec.service for devrun.yaml, .env and env files


@dataclass(frozen=True)
class ContainerReplaced:
    """A worker recreated a service's container (rebuild): the loop adopts it."""

    service: str
    container_id: str
    since: float


def watch_specs(cfg: loader.LoadedConfig) -> list[WatchSpec]:
    specs: list[WatchSpec] = []
    for name, svc in cfg.project.services.items():
        for i, rule in enumerate(svc.watch):
            ignore_files: list[str] = []
            if rule.action == "rebuild" and svc.build:
                ignore_files.append(os.path.join(svc.build.context, ".dockerignore"))
            specs.append(WatchSpec(name, i, list(rule.path), list(rule.ignore), ignore_files, rule.debounce))
    specs.append(WatchSpec(CONFIG_KEY, 0, [str(p) for p in cfg.sources]))
    return specs


def _display(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


class LiveReload:
    def __init__(
        self,
        session: Session,
        *,
        quiet: float | None = None,
        max_wait: float | None = None,
        poll: bool | None = None,
    ):
        self.session = session
        self.quiet = quiet
        self.max_wait = max_wait
        self.poll = poll
        self.workers: dict[str, ServiceWorker] = {}
        self.watcher: Watcher | None = None
        self._router: Router | None = None
        self.synced: set[str] = set()  # containers already brought level with the host

    # ---- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        """Initial syncs, then every watch placed: after this, `ready` is true."""
        s = self.session
        s.on(WatchBatch, self._on_batch)
        s.on(ContainerReplaced, self._on_replaced)
        for service in s.services:
            svc = s.cfg.project.services[service]
            for rule in svc.watch:
                lands = rule.action.startswith("sync") and bind_echo(
                    rule.target or "/", rule.path, svc.volumes
                )
                if lands:
                    s.printer.warn(
                        f"{service}: {rule.target} is bind-mounted from {_display(lands, str(s.cfg.root))}, so the files are "
                        "there already: its sync is skipped (copies would be seen as edits and synced again, endlessly)"
                    )
            self._initial_sync(service)
        self._start_watcher()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        for w in self.workers.values():
            w.stop(timeout=2)

    def _start_watcher(self) -> None:
        cfg = self.session.cfg
        specs = watch_specs(cfg)
        self._router = sync_router(cfg)
        kwargs = {}
        if self.quiet is not None:
            kwargs["quiet"] = self.quiet
        if self.max_wait is not None:
            kwargs["max_wait"] = self.max_wait
        self.watcher = Watcher(
            specs,
            self._enqueue,
            on_warning=self.session.printer.warn,
            poll=bool(self.poll or cfg.project.poll),
            project_root=str(cfg.root),
            **kwargs,
        )
        self.watcher.start()
        for name in self.session.services:
            if name not in self.workers and cfg.project.services[name].watch:
                self.workers[name] = ServiceWorker(name, self._run_batch, self._on_worker_error)

    def _enqueue(self, batch: Batch) -> None:
        # runs on the watcher thread: only enqueue
        self.session.submit(
            WatchBatch(
                batch.service,
                tuple(sorted(batch.paths)),
                {i: tuple(sorted(p)) for i, p in batch.rules.items()},
            )
        )

    # ---- loop handlers (run on the session loop) -------------------------------------

    def _on_batch(self, msg: WatchBatch) -> None:
        s = self.session
        if s.stopping:
            return
        if msg.service is CONFIG_KEY:
            self._reload_config(msg.paths)
            return
        worker = self.workers.get(msg.service)
        if worker is None or msg.service not in s.containers:
            return
        root = str(s.cfg.root)
        s.printer.event(
            "change", service=msg.service, paths=[_display(p, root) for p in msg.paths], count=len(msg.paths)
        )
        worker.submit(
            ChangeBatch(msg.service, frozenset(msg.paths), {i: frozenset(p) for i, p in msg.rules.items()})
        )

    def _on_replaced(self, msg: ContainerReplaced) -> None:
        s = self.session
        s.containers[msg.service] = msg.container_id
        s.logs.follow(msg.service, msg.container_id, msg.since)

    # ---- the worker side --------------------------------------------------------------

    def _on_worker_error(self, service: str, e: BaseException) -> None:
        self.session.printer.error(f"{service}: {e}")

    def _run_batch(self, batch: ChangeBatch) -> None:
        s = self.session
        svc = s.cfg.project.services.get(batch.service)
        if svc is None or s.stopping:
            return
        root = str(s.cfg.root)
        for step in plan_actions(svc.watch, batch.rules):
            shown = [_display(p, root) for p in sorted(step.paths)]
            s.printer.event(
                "action_started", service=batch.service, action=step.label, paths=shown, count=len(shown)
            )
            t0 = time.perf_counter()
            error = None
            label = step.label
            try:
                label = self._execute(batch.service, step) or label
            except DevrunError as e:
                error = str(e)
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
            )
            if error is not None:
                return  # later steps assume this one worked (sync before restart)

    def _execute(self, service: str, step: Step) -> str | None:
        s = self.session
        cid = s.containers.get(service)
        if cid is None:
            raise EngineError(f"{service} has no running container")
        if step.kind == "sync":
            rule_index = step.rules[0]
            rule = s.cfg.project.services[service].watch[rule_index]
            if bind_echo(rule.target or "/", rule.path, s.cfg.project.services[service].volumes):
                return "sync (skipped: bind-mounted)"
            target = rule.target or "/"
            sp = plan_sync(step.paths, rule.path, target, self._keep(service, rule_index))
            sync_into(s.engine, s.printer, service, cid, sp, target)
        elif step.kind == "exec":
            code = s.engine.exec(
                cid, list(step.argv or ()), lambda stream, line: s.printer.log(service, stream, line)
            )
            if code != 0:
                raise EngineError(f"`{' '.join(step.argv or ())}` exited with code {code}")
        elif step.kind == "signal":
            try:
                s.engine.kill(cid, step.signal or "SIGHUP")
            except EngineError:
                if s.engine.inspect(cid)["State"].get("Running"):
                    raise
                # the app crashed (say, on the bad edit being fixed now): a fresh start loads the new code
                s.restart_service(service)
                return f"{step.label} (was not running: started)"
        elif step.kind == "restart":
            mode = s.restart_service(service)
            return f"restart ({mode})"
        elif step.kind == "rebuild":
            self._rebuild(service, cid)
        return None

    def _keep(self, service: str, rule_index: int):
        if self._router is None:
            self._router = sync_router(self.session.cfg)
        return keep_for(self._router, service, rule_index)

    def _initial_sync(self, service: str) -> None:
        s = self.session
        cid = s.containers.get(service)
        if cid is not None and cid not in self.synced:
            initial_sync(s.cfg, s.engine, s.printer, service, cid)
            self.synced.add(cid)

    def _rebuild(self, service: str, old_cid: str) -> None:
        """Build first: if the build fails the old container keeps running."""
        s = self.session
        cfg = s.cfg
        images = lifecycle.resolve_images(s.engine, cfg, [service], s.printer, force_build=True)
        desired = plan.desired_specs(cfg.project, cfg.name, images)
        steps = plan.converge(
            desired, [o for o in s.engine.project_containers(cfg.name) if o.service == service]
        )
        s.expect_stop(old_cid)
        since = time.time()
        ids = self._apply(cfg, steps)
        new = ids.get(service)
        if new and new != old_cid:
            s.containers[service] = new  # follow-up actions must target the new container
            s.submit(ContainerReplaced(service, new, since))

    def _apply(self, cfg: loader.LoadedConfig, steps: list[plan.Step]) -> dict[str, str]:
        """Converge steps with an initial sync before each new container starts."""
        s = self.session

        def before_start(service: str, cid: str) -> None:
            initial_sync(cfg, s.engine, s.printer, service, cid)
            self.synced.add(cid)

        def started(service: str, cid: str) -> None:
            s.printer.event("service_started", service=service, container=cid)

        return lifecycle.apply(s.engine, cfg, steps, s.printer, started, before_start)

    # ---- hot reload of devrun.yaml / .env / env files -----------------------------------

    def _reload_config(self, paths: tuple[str, ...]) -> None:
        s = self.session
        old = s.cfg
        try:
            new = loader.load_file(old.file, project_name=old.name)
        except ConfigError as e:
            for line in e.lines():
                s.printer.error(line)
            s.printer.warn("the config has errors; the running services keep the previous config")
            return
        services = start_order(new.project)
        try:
            lifecycle.check_clashes(s.engine, new, services)
            # before anything is stopped: a taken port must not cost the running container
            lifecycle.check_ports(s.engine, new, services)
            images = lifecycle.resolve_images(s.engine, new, services, s.printer)
            desired = plan.desired_specs(new.project, new.name, images)
            steps = plan.converge(desired, s.engine.project_containers(new.name), remove_orphans=True)
            for st in steps:
                if st.kind in ("recreate", "remove") and st.container_id:
                    s.expect_stop(st.container_id)
            since = time.time()
            ids = self._apply(new, steps)
        except DevrunError as e:
            s.printer.error(f"applying the new config failed: {e}")
            return
        changed = [st.service for st in steps if st.kind != "keep"]
        if self.watcher is not None:
            self.watcher.stop()
        s.cfg = new
        s.services = services
        s.printer.set_services(services)
        for name in list(s.containers):
            if name not in ids:
                s.containers.pop(name)
        for name, cid in ids.items():
            if s.containers.get(name) != cid:
                s.containers[name] = cid
                s.logs.follow(name, cid, since)
        self._router = None
        self._start_watcher()
        s.printer.event("config_reloaded", services_changed=changed)


def sync_router(cfg: loader.LoadedConfig) -> Router:
    return Router([sp for sp in watch_specs(cfg) if sp.service is not None], GitignoreCache(), str(cfg.root))


def keep_for(router: Router, service: str, rule_index: int):
    """The rule's filter (defaults, .gitignore, rule ignores) as a path predicate."""
    roots = [r for r in router.roots if r.spec.service == service and r.spec.rule_index == rule_index]

    def keep(path: str) -> bool:
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        return any(r.counts(path, is_dir) for r in roots)

    return keep


def sync_into(engine, printer, service: str, cid: str, sp: SyncPlan, target: str) -> None:
    if sp.refused:
        printer.warn(
            f"{service}: not syncing {len(sp.refused)} path(s) outside the rule's path, e.g. {sp.refused[0]}"
        )
    for path in sp.too_big:
        try:
            size = f"{os.path.getsize(path) / 2**20:.0f} MB, "
        except OSError:
            size = ""  # gone since planning
        printer.warn(
            f"{service}: not syncing {path} ({size}over the {max_file_bytes() // 2**20} MB sync limit); "
            "bind-mount big files, or raise DEVRUN_SYNC_MAX_FILE_MB"
        )
    if sp.copies:
        with write_tar(sp) as data:
            engine.put_archive(cid, "/", data)
    argv = guarded_delete_command(sp, target)
    if argv:
        code = engine.exec(cid, argv, lambda stream, line: printer.log(service, stream, line))
        if code != 0:
            raise EngineError(f"deleting {len(sp.deletes)} path(s) in {target} failed (exit {code})")


def initial_sync(cfg: loader.LoadedConfig, engine, printer, service: str, cid: str) -> None:
    """Copy every sync rule's files into the container (created or running):
    edits made while devrun was not watching are never left behind."""
    svc = cfg.project.services.get(service)
    if svc is None:
        return
    router: Router | None = None
    for i, rule in enumerate(svc.watch):
        if not (rule.action.startswith("sync") and rule.initial_sync and rule.target) or bind_echo(
            rule.target, rule.path, svc.volumes
        ):
            continue
        router = router or sync_router(cfg)
        t0 = time.perf_counter()
        sp = initial_plan(rule.path, rule.target, keep_for(router, service, i))
        try:
            sync_into(engine, printer, service, cid, sp, rule.target)
        except EngineError as e:
            printer.error(f"{service}: initial sync into {rule.target} failed: {e}")
            continue
        printer.info(
            f"{service}: synced {len(sp.copies)} path(s) into {rule.target} in {int((time.perf_counter() - t0) * 1000)} ms"
        )


def extend(quiet: float | None = None, max_wait: float | None = None, poll: bool | None = None):
    """Hooks for runner.up: (extend, before_start). before_start syncs into
    each container devrun creates, before it starts; extend starts live
    reload and syncs the containers that were already running."""
    synced: set[str] = set()

    def before_start(cfg: loader.LoadedConfig, engine, printer, service: str, cid: str) -> None:
        initial_sync(cfg, engine, printer, service, cid)
        synced.add(cid)

    def hook(session: Session) -> None:
        live = LiveReload(session, quiet=quiet, max_wait=max_wait, poll=poll)
        live.synced = synced
        live.start()

    return hook, before_start
