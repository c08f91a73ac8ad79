"""Live reload: watch rules -> debounced batches -> per-service workers ->
steps applied to the running containers; and hot reload of devrun's own config.

The watcher only enqueues WatchBatch messages on the session's queue; the
session loop (one consumer) prints the change and hands the batch to the
service's worker, or reloads the config. Workers run the steps that
`actions.plan_actions` decides, one batch at a time per service."""

from __future__ import annotations

import threading
import time

from devrun import plan
from devrun.config import loader
from devrun.engine.protocol import EngineEvent
from devrun.errors import ConfigError, DevrunError
from devrun.plan import start_order
from devrun.session import lifecycle, remote
from devrun.session.actions import ChangeBatch, ServiceWorker
from devrun.session.messages import WatchBatch
from devrun.session.reconcile import (
    CONFIG_KEY,
    reconcile,
    sync_router,
    watch_specs,
)
from devrun.session.runner import Session
from devrun.session.sync import bind_echo
from devrun.session.worker import ContainerReplaced, Worker, _display
from devrun.watch.rules import Router
from devrun.watch.watcher import Batch, Watcher

# how long a stop waits for a worker's step in progress (a build, say)
STOP_WAIT = 60.0


class LiveReload(Worker):
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
        self._router_cfg: loader.LoadedConfig | None = None
        self.synced: set[str] = set()  # containers already brought level with the host
        # batches whose steps failed: merged into the service's next run, which
        # reconciles the whole tree (next batch, container start or unpause)
        self._pending: dict[str, ChangeBatch] = {}
        self._pending_lock = threading.Lock()
        # one converge at a time: a rebuild (worker) and a config reload (loop)
        # must not both recreate containers from different configs
        self._apply_lock = threading.Lock()
        self._generation = 0  # converges so far (under the apply lock)
        self._adopted: dict[str, int] = {}  # service -> generation of its current container (loop only)

    # ---- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        """Place every watch, then bring adopted containers level: after this,
        `ready` is true."""
        s = self.session
        s.on(WatchBatch, self._on_batch)
        s.on(ContainerReplaced, self._on_replaced)
        s.container_listeners.append(self._on_container_event)
        s.engine_back_listeners.append(self._on_engine_back)
        s.before_stop.append(self.stop)
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
        # watching first: an edit made while the trees are compared is queued, not lost
        self._start_watcher()
        for service in s.services:
            self._level_adopted(service)

    def stop(self) -> None:
        """Stop watching and let in-flight steps reach their end (a rebuild
        that has not started its containers yet gives up)."""
        if self.watcher is not None:
            self.watcher.stop()
        for name, w in self.workers.items():
            if w.busy:
                self.session.printer.info(f"stopping: waiting for {name}'s action in progress")
            w.stop(timeout=STOP_WAIT)

    def _start_watcher(self) -> None:
        cfg = self.session.cfg
        specs = watch_specs(cfg)
        self._router, self._router_cfg = sync_router(cfg), cfg
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
            # every service: a control call (restart, rebuild) runs on its worker too
            if name not in self.workers:
                self.workers[name] = ServiceWorker(name, self._run_batch, self._on_worker_error)

    def _enqueue(self, batch: Batch) -> None:
        # runs on the watcher thread: only enqueue
        self.session.submit(
            WatchBatch(
                batch.service,
                tuple(sorted(batch.paths)),
                {i: tuple(sorted(p)) for i, p in batch.rules.items()},
                detected_at=batch.first_at,
                closed_at=time.monotonic(),
            )
        )

    def trigger(self, service: str, kind: str, change_id: int, at: float) -> None:
        """A control call (on the loop): `restart`, `rebuild`, or `sync` (the
        whole tree brought level, then what changed restarted or signalled)."""
        worker = self.workers.get(service)
        if worker is None:
            return
        worker.submit(
            ChangeBatch(
                service,
                frozenset(),
                {},
                catch_up=kind == "sync",
                cfg=self.session.cfg,
                changes=frozenset({change_id}),
                forced=frozenset({kind} - {"sync"}),
                detected_at=at,
                closed_at=at,
            )
        )

    def _level_adopted(self, service: str) -> None:
        """A container found running (devrun was stopped, or killed): bring it
        level with the host, then give the changed rules their restart or
        signal, so the app runs what the host holds now. Runs before the loop
        does, so no worker touches the container meanwhile."""
        s = self.session
        cid = s.containers.get(service)
        if cid is None or cid in self.synced or not s.cfg.project.services[service].watch:
            return
        self.synced.add(cid)
        self._run_batch(ChangeBatch(service, frozenset(), {}, catch_up=True))

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
        ids = {"changes": list(msg.changes)} if msg.changes else {}
        s.printer.event(
            "change",
            service=msg.service,
            paths=[_display(p, root) for p in msg.paths],
            count=len(msg.paths),
            **ids,
        )
        worker.submit(
            ChangeBatch(
                msg.service,
                frozenset(msg.paths),
                {i: frozenset(p) for i, p in msg.rules.items()},
                cfg=s.cfg,
                changes=frozenset(msg.changes),
                detected_at=msg.detected_at,
                closed_at=msg.closed_at,
            )
        )

    def _on_replaced(self, msg: ContainerReplaced) -> None:
        s = self.session
        try:
            if msg.generation < self._adopted.get(msg.service, 0):
                return  # replaced again since (a config reload after the rebuild): that one is current
            self._adopted[msg.service] = msg.generation
            s.containers[msg.service] = msg.container_id
            s.logs.follow(msg.service, msg.container_id, msg.since)
        finally:
            msg.adopted.set()

    def _on_container_event(self, ev: EngineEvent) -> None:
        """A start or unpause retries what failed before (a sync into a
        paused or stopped container)."""
        if ev.action not in ("start", "unpause") or self.session.stopping:
            return
        with self._pending_lock:
            waiting = ev.service in self._pending
        worker = self.workers.get(ev.service)
        if waiting and worker is not None:
            worker.submit(ChangeBatch(ev.service, frozenset(), {}, catch_up=True, cfg=self.session.cfg))

    def _on_engine_back(self) -> None:
        """The engine answers again after a drop (restarted, or the link to a
        remote one came back): every synced tree is brought level, so edits
        made meanwhile arrive (with the restarts their rules ask for), failed
        ones included."""
        if self.session.stopping:
            return
        for service, worker in self.workers.items():
            svc = self.session.cfg.project.services.get(service)
            if svc is not None and any(r.action.startswith("sync") for r in svc.watch):
                worker.submit(ChangeBatch(service, frozenset(), {}, catch_up=True, cfg=self.session.cfg))

    # ---- hot reload of devrun.yaml / .env / env files -----------------------------------

    def _reload_config(self, paths: tuple[str, ...]) -> None:
        with self._apply_lock:
            self._reload_config_locked()

    def _reload_config_locked(self) -> None:
        s = self.session
        old = s.cfg
        try:
            new = loader.reload(old)
        except ConfigError as e:
            for line in e.lines():
                s.printer.error(line)
            s.printer.warn("the config has errors; the running services keep the previous config")
            return
        services = start_order(new.project)
        try:
            new = remote.adapt(new, s.engine)  # binds as syncs where the engine does not see them
            lifecycle.check_clashes(s.engine, new, services)
            # before anything is stopped: a taken port must not cost the running container
            lifecycle.check_ports(s.engine, new, services)
            images = lifecycle.resolve_images(s.engine, new, services, s.printer)
            desired = plan.desired_specs(new.project, new.name, images)
            steps = plan.converge(desired, s.engine.project_containers(new.name), remove_orphans=True)
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
            self._adopted[name] = self._generation
            if s.containers.get(name) != cid:
                s.containers[name] = cid
                s.logs.follow(name, cid, since)
        if s.forwards is not None:
            s.forwards.update(new, services)  # a remote engine's ports, as the new config publishes them
        self._router = None
        self._start_watcher()
        s.printer.event("config_reloaded", services_changed=changed)


def extend(quiet: float | None = None, max_wait: float | None = None, poll: bool | None = None):
    """Hooks for runner.up: (extend, before_start). before_start brings each
    container level with the host before its app starts; extend starts live
    reload and levels the containers that were already running."""
    synced: set[str] = set()

    def before_start(
        cfg: loader.LoadedConfig, engine, printer, service: str, cid: str, expect_stop=None
    ) -> None:
        reconcile(cfg, engine, printer, service, cid, expect_stop, starting=True)
        synced.add(cid)

    def hook(session: Session) -> None:
        live = LiveReload(session, quiet=quiet, max_wait=max_wait, poll=poll)
        session.live = live
        live.synced = synced
        live.start()

    return hook, before_start
