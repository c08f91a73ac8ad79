"""`devrun up`: one loop consuming one queue of typed messages.

Producers only enqueue: the engine event thread (EngineEvent), signal handlers
(StopRequest), restart timers (RestartDue), and, added by devrun.session.live,
watchers (WatchBatch) and rebuilds (ContainerReplaced). The loop looks up a
handler per message type in `Session.handlers`; extending `up` means
registering a handler with `session.on(MessageType, fn)` and submitting
messages with `session.submit(msg)`.

Seam for watching and actions: a watcher calls `session.submit(WatchBatch(...))`;
register `session.on(WatchBatch, handler)`; the handler decides per service
and may call `session.restart_service(service)`, which picks process mode
(USR2 to the supervisor) or an engine restart and keeps logs attached."""

from __future__ import annotations

import collections
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devrun.config.loader import LoadedConfig
from devrun.engine.protocol import EngineEvent
from devrun.errors import EXIT_SIGINT, EXIT_SIGTERM, EngineError
from devrun.output import Printer
from devrun.plan import engine_policy, start_order
from devrun.session import hooks, lifecycle
from devrun.session.logstream import LogFollowers
from devrun.session.messages import (
    EngineBack,
    EngineDropped,
    EngineLost,
    ExpectStop,
    RestartDue,
    StopDone,
    StopNow,
    StopRequest,
)
from devrun.session.project_lock import STOP_FOR_DOWN, ProjectLock
from devrun.session.restart_policy import Exit, decide

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine

# how long the engine may stay unreachable before `up` gives up (seconds)
ENGINE_TIMEOUT_ENV = "DEVRUN_ENGINE_TIMEOUT"
ENGINE_TIMEOUT = 30.0


def engine_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get(ENGINE_TIMEOUT_ENV, ENGINE_TIMEOUT)))
    except ValueError:
        return ENGINE_TIMEOUT


def reconnect_delay(attempt: int) -> float:
    """Seconds before reconnect attempt `attempt` (0-based): 0.25, 0.5, 1, 2 ... 4."""
    return min(0.25 * 2**attempt, 4.0)


class Session:
    """The running project: the loop, its queue, its containers."""

    def __init__(self, cfg: LoadedConfig, engine: Engine, printer: Printer, services: list[str]):
        self.cfg = cfg
        self.engine = engine
        self.printer = printer
        self.services = services
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # put() is safe in signal handlers
        self.containers: dict[str, str] = {}  # service -> current container id
        self.live: Any = None  # the LiveReload, when watching
        self.logs = LogFollowers(engine, printer)
        self.exit_code: int | None = None
        self.stopping = 0  # stop requests seen
        self._stop_signal = signal.SIGINT
        # container id -> when devrun said it would stop it: only a start after
        # that moment ends the expectation (a start event can arrive late)
        self._expected_stops: dict[str, float] = {}
        self._loop_thread: threading.Thread | None = None  # only it writes the session's state
        self._stopped_outside: set[str] = set()
        # services stopped from outside (`docker stop`): devrun does not start them
        self.stopped_by_user: set[str] = set()
        self.stop_timeout: float | None = None  # `up -t`: overrides every service's stop_grace_period
        self._died_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._events: Any = None
        self._since = time.time()
        self._closing = False
        # the initial sync hook (live reload) for containers devrun recreates itself
        self.before_start: Callable[[str, str], None] | None = None
        self.forwards: Any = None  # a remote engine's ports served here (session/ports.py)
        # called on the loop for engine events of the current containers
        self.container_listeners: list[Callable[[EngineEvent], None]] = []
        # called (on the loop) once the engine answers again after a drop
        self.engine_back_listeners: list[Callable[[], None]] = []
        # called off the loop when a stop begins: they end in-flight work first
        self.before_stop: list[Callable[[], None]] = []
        # the events printed before anything serves them (the control server starts once up is
        # ready): it replays them, so a service's first log lines are not lost to the dashboard
        self.early_events: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        self.handlers: dict[type, Callable[[Any], None]] = {
            EngineEvent: self._on_engine_event,
            ExpectStop: self._on_expect_stop,
            StopRequest: self._on_stop_request,
            StopDone: self._on_stop_done,
            StopNow: self._on_stop_now,
            RestartDue: self._on_restart_due,
            EngineDropped: self._on_engine_dropped,
            EngineBack: self._on_engine_back,
            EngineLost: self._on_engine_lost,
        }

    # ---- the seam ---------------------------------------------------------------

    def submit(self, msg: Any) -> None:
        self.queue.put(msg)

    def on(self, msg_type: type, handler: Callable[[Any], None]) -> None:
        self.handlers[msg_type] = handler

    def grace(self, service: str) -> float:
        return lifecycle.grace(self.cfg, service, self.stop_timeout)

    def expect_stop(self, container_id: str) -> None:
        """A stop devrun itself causes (rebuild, reload, restart): not a crash to
        report. Off the loop it is a message, handled before the die event."""
        at = time.time()
        if self._loop_thread is None or threading.current_thread() is self._loop_thread:
            self._expected_stops[container_id] = at
        else:
            self.submit(ExpectStop(container_id, at))

    def _on_expect_stop(self, msg: ExpectStop) -> None:
        self._expected_stops[msg.container_id] = msg.at

    def _stop_signal_number(self, service: str) -> int | None:
        svc = self.cfg.project.services.get(service)
        return int(getattr(signal.Signals, svc.stop_signal, signal.SIGTERM)) if svc else None

    def restart_service(self, service: str) -> str:
        """Restart one service the fastest way its container allows; returns
        "process" or "container". Logs stay attached either way."""
        cid = self.containers[service]
        if service in self.stopped_by_user:
            raise EngineError(
                f"{service} was stopped outside devrun and stays stopped; `devrun start {service}` starts it"
            )
        how = lifecycle.restart_container(
            self.engine,
            cid,
            self.grace(service),
            self.expect_stop,
            pre_stop=lambda c: hooks.pre_stop(self.engine, self.cfg, self.printer, service, c),
            post_start=lambda c: hooks.post_start(self.engine, self.cfg, self.printer, service, c),
        )
        return "container" if how == "start" else how

    # ---- running ------------------------------------------------------------------

    def attach(self, since: float) -> None:
        """Follow engine events and every container's logs from `since`."""
        self._since = since
        self._events = self.engine.events(self.cfg.name, since=since)
        threading.Thread(target=self._pump_events, name="engine-events", daemon=True).start()
        now = time.monotonic()
        for service, cid in self.containers.items():
            self._started_at[cid] = now
            self.logs.follow(service, cid, since)

    def _pump_events(self) -> None:
        """Forward engine events. When the stream ends while up runs (the engine
        restarted), reconnect with backoff, replaying from the last event seen;
        past engine_timeout() the loop is told the engine is lost."""
        last = self._since
        while True:
            for ev in self._events:
                last = max(last, ev.time)
                self.submit(ev)
            if self._closing:
                return
            self.submit(EngineDropped())
            dropped, dropped_wall, attempt = time.monotonic(), time.time(), 0
            while True:
                # never sleep past the deadline: the last try falls on it, not up to 4 s later
                time.sleep(
                    min(reconnect_delay(attempt), max(0.0, dropped + engine_timeout() - time.monotonic()))
                )
                attempt += 1
                if self._closing:
                    return
                try:
                    # just after the last event: the engine's `since` is inclusive
                    self._events = self.engine.events(self.cfg.name, since=last + 1e-6)
                    break
                except EngineError:
                    if time.monotonic() - dropped >= engine_timeout():
                        self.submit(EngineLost(time.monotonic() - dropped))
                        return
            self.submit(EngineBack(dropped_wall))

    def run(self) -> int:
        self._loop_thread = threading.current_thread()
        while self.exit_code is None:
            try:
                msg = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            handler = self.handlers.get(type(msg))
            if handler is None:
                self.printer.warn(f"no handler for {type(msg).__name__}")
                continue
            try:
                handler(msg)
            except EngineError as e:
                self.printer.error(str(e))
        self._closing = True
        if self._events is not None:
            self._events.close()
        self.logs.join(1.0)
        return self.exit_code

    # ---- handlers -----------------------------------------------------------------

    def _on_engine_event(self, ev: EngineEvent) -> None:
        if ev.service not in self.containers or self.containers[ev.service] != ev.container_id:
            return
        cid = ev.container_id
        if ev.action == "start":
            if self._expected_stops.get(cid, ev.time) < ev.time:
                del self._expected_stops[cid]
            self._stopped_outside.discard(cid)
            self.stopped_by_user.discard(ev.service)
            self._started_at[cid] = time.monotonic()
            if cid in self._died_at:
                # the old stream ended at the stop; continue right where it ended
                self.logs.follow(ev.service, cid, self._died_at.pop(cid))
        elif (
            ev.action == "kill"
            and ev.signal == self._stop_signal_number(ev.service)
            and cid not in self._expected_stops
        ):
            # `docker stop` / `docker restart` from outside send the stop signal: a deliberate stop, not a crash
            self._stopped_outside.add(cid)
        elif ev.action == "die":
            self._died_at[cid] = ev.time
            if self.stopping or cid in self._expected_stops:
                return
            if cid in self._stopped_outside:
                self._stopped_outside.discard(cid)
                self.stopped_by_user.add(ev.service)
                self.printer.info(
                    f"{ev.service} was stopped outside devrun (exit {ev.exit_code}); devrun leaves it stopped (`devrun restart {ev.service}` starts it)"
                )
                return
            self._report_exit(ev.service, cid, ev.exit_code)
        elif ev.action == "destroy" and not self.stopping and cid not in self._expected_stops:
            self._on_removed_outside(ev.service)
        for listener in self.container_listeners:
            listener(ev)

    def _on_removed_outside(self, service: str) -> None:
        """`docker rm -f` from outside: recreate if the restart policy says the
        service should keep running, else say so and leave it down."""
        policy = self.cfg.project.services[service].restart if service in self.cfg.project.services else "no"
        if policy == "no":
            self.printer.warn(
                f"the container of {service} was removed outside devrun; run `devrun up` again to recreate it"
            )
            return
        self.printer.warn(
            f"the container of {service} was removed outside devrun; recreating it (restart: {policy})"
        )
        since = time.time()
        ids = lifecycle.converge_project(
            self.engine, self.cfg, [service], self.printer, before_start=self.before_start
        )
        new = ids[service]
        self.containers[service] = new
        self._started_at[new] = time.monotonic()
        self.logs.follow(service, new, since)
        self.printer.event("service_started", service=service, container=new)

    def _on_engine_dropped(self, _msg: EngineDropped) -> None:
        self.printer.warn(
            f"lost the engine's event stream (was Docker restarted, or the link to {self.engine.where} dropped?); "
            f"reconnecting for up to {engine_timeout():g}s"
        )

    def _on_engine_back(self, msg: EngineBack) -> None:
        self.printer.info("reconnected to the engine")
        for service, cid in list(self.containers.items()):
            if self.logs.following(cid):
                continue
            try:
                running = self.engine.state(cid).running
            except EngineError:
                continue  # gone: the replayed destroy event decides
            if running:
                self.logs.follow(service, cid, msg.dropped_at)
        for listener in self.engine_back_listeners:
            listener()

    def _on_engine_lost(self, msg: EngineLost) -> None:
        self.printer.error(
            f"the Docker engine has been unreachable for {msg.seconds:.0f}s; exiting and leaving the containers as they are "
            f"(run `devrun up` again once Docker is back; {ENGINE_TIMEOUT_ENV} sets the wait)"
        )
        self.exit_code = 1

    def _report_exit(self, service: str, cid: str, exit_code: int | None) -> None:
        self.logs.wait_ended(cid, 1.0)  # the follower prints the last lines first
        ran = time.monotonic() - self._started_at.get(cid, time.monotonic())
        policy = self.cfg.project.services[service].restart
        # the engine's own policy (set as compose sets it) restarts it: devrun only
        # reports, so the container is never started twice
        by_engine = engine_policy(policy) is not None and self._engine_restarts(cid)
        decision = None if by_engine else decide(policy, Exit(exit_code, ran), self._attempts.get(service, 0))
        self.printer.event(
            "container_exited",
            service=service,
            exit_code=exit_code,
            last_lines=self.logs.last_lines(service)[-5:],
            restarting=by_engine or (decision is not None and decision.delay is not None),
        )
        if by_engine:
            self.printer.info(f"the engine restarts {service} (restart: {policy})")
            return
        assert decision is not None
        self._attempts[service] = decision.attempts
        delay = decision.delay
        if delay is None:
            return
        self.printer.info(
            f"restarting {service} in {delay:g}s (restart: {policy}, attempt {decision.attempts})"
        )
        timer = threading.Timer(delay, self.submit, args=(RestartDue(service, cid),))
        timer.daemon = True
        timer.start()

    def _engine_restarts(self, cid: str) -> bool:
        """Whether the engine's restart policy took the container over: at its
        die event the engine has marked it restarting (or started it again).
        A container made before devrun set the policy has none: devrun restarts it."""
        try:
            state = self.engine.state(cid)
        except EngineError:
            return False
        return state.status in ("restarting", "running")

    def _on_restart_due(self, msg: RestartDue) -> None:
        if self.stopping or self.containers.get(msg.service) != msg.container_id:
            return
        self.engine.start(msg.container_id)
        if self.cfg.project.services[msg.service].post_start:
            # off the loop: a hook may take its time
            threading.Thread(
                target=hooks.post_start,
                args=(self.engine, self.cfg, self.printer, msg.service, msg.container_id),
                name="post-start",
                daemon=True,
            ).start()

    def _on_stop_request(self, msg: StopRequest) -> None:
        self.stopping += 1
        if self.stopping == 1:
            self._stop_signal = msg.signum
            self.printer.info(
                "stopping: `devrun down` was run"
                if msg.signum == STOP_FOR_DOWN
                else "stopping (press Ctrl-C again to kill)"
            )
            threading.Thread(target=self._settle, name="stop", daemon=True).start()
        elif self.stopping == 2:
            self.printer.info("killing")
            for cid in self.containers.values():
                try:
                    self.engine.kill(cid, "SIGKILL")
                except EngineError:
                    pass  # already gone
            self.submit(StopNow())  # no more waiting for work in progress

    def _settle(self) -> None:
        for hook in self.before_stop:
            try:
                hook()
            except Exception as e:  # noqa: BLE001 - the stop goes on whatever a hook hit
                self.printer.warn(f"while stopping: {e}")
        self.submit(StopNow())

    def _on_stop_now(self, _msg: StopNow) -> None:
        # on the loop, after any ContainerReplaced queued before: the current containers
        targets = [(cid, self.grace(s)) for s, cid in self.containers.items()]
        if targets:
            longest = max(g for _, g in targets)
            self.printer.info(f"stopping {', '.join(self.containers)}: stop signal sent, up to {longest:g}s")
        pre_stop = hooks.pre_stop_by_id(
            self.engine, self.cfg, self.printer, {cid: s for s, cid in self.containers.items()}
        )
        threading.Thread(target=self._stop_all, args=(targets, pre_stop), name="stop", daemon=True).start()

    def _stop_all(
        self, targets: list[tuple[str, float]], pre_stop: Callable[[str], None] | None = None
    ) -> None:
        lifecycle.stop_containers(self.engine, targets, pre_stop)
        self.submit(StopDone())

    def _on_stop_done(self, _msg: StopDone) -> None:
        for service in self.containers:
            self.printer.event("service_stopped", service=service)
        codes = {signal.SIGTERM: EXIT_SIGTERM, STOP_FOR_DOWN: 0}
        self.exit_code = codes.get(self._stop_signal, EXIT_SIGINT)


def up(
    cfg: LoadedConfig,
    printer: Printer,
    *,
    services: list[str] | None = None,
    detach: bool = False,
    build: bool = False,
    watch: bool = True,
    engine: Engine | None = None,
    extend: Callable[[Session], None] | None = None,
    before_start: Callable[..., None] | None = None,
    no_recreate: bool = False,
    stop_timeout: float | None = None,
) -> int:
    """Bring the project up; unless detached, stream logs until stopped.
    `extend(session)` runs before the loop starts (the hook for watching)."""
    if engine is None:
        from devrun.engine.docker import Engine as DockerEngine

        engine = DockerEngine.connect()
    from devrun.session import remote

    cfg = remote.adapt(cfg, engine, printer)
    order = start_order(cfg.project, services or None)
    printer.set_services(order)
    with ProjectLock(cfg.name):
        since = time.time()
        session = Session(cfg, engine, printer, order)
        if not detach:
            printer.listeners = [*printer.listeners, session.early_events.append]
        session.stop_timeout = stop_timeout
        started: dict[str, str] = {}

        def on_started(service: str, cid: str) -> None:
            started[service] = cid
            printer.event("service_started", service=service, container=cid)

        for line in lifecycle.up_warnings(cfg, order):
            printer.warn(line)
        interrupted: list[int] = []

        def interrupt(signum: int, _frame: Any) -> None:
            interrupted.append(signum)
            raise KeyboardInterrupt

        # until the loop runs, SIGTERM interrupts like Ctrl-C: nothing is left half-done; both
        # are remembered, so one whose KeyboardInterrupt some library swallowed still stops `up`
        previous_term = signal.signal(signal.SIGTERM, interrupt)
        previous_int = signal.signal(signal.SIGINT, interrupt)
        previous: dict[int, Any] = {}
        handed_to_loop = False
        try:
            hook = (
                (lambda svc, cid: before_start(cfg, engine, printer, svc, cid, session.expect_stop))
                if before_start and watch
                # not watching: a remote engine still needs the project's folders copied in
                else remote.level_hook(cfg, engine, printer, session.expect_stop)
            )
            session.before_start = hook
            session.containers = lifecycle.converge_project(
                engine,
                cfg,
                services,
                printer,
                force_build=build,
                no_recreate=no_recreate,
                on_started=on_started,
                before_start=hook,
            )
            if detach:
                printer.event("ready", services=order)
                return 0
            session.attach(since)
            # a remote engine's published ports, served on this machine's 127.0.0.1
            session.forwards = remote.forward_ports(cfg, engine, printer, order)
            if extend is not None and watch:
                extend(session)
            # from here a signal is a message to the loop: no interrupt can land between
            # the last step above and the loop, where nothing would stop what runs
            for s in (signal.SIGINT, STOP_FOR_DOWN, signal.SIGTERM):
                previous[s] = signal.signal(s, lambda signum, _f: session.submit(StopRequest(signum)))
            previous[signal.SIGTERM], previous[signal.SIGINT] = previous_term, previous_int
            handed_to_loop = True
            if interrupted:
                session.submit(StopRequest(interrupted[0]))
        except KeyboardInterrupt:
            running = {**started, **session.containers}
            printer.info(
                f"interrupted; stopping {', '.join(sorted(running))}"
                if running
                else "interrupted; nothing was started"
            )
            lifecycle.stop_containers(
                engine,
                [(cid, session.grace(s)) for s, cid in running.items()],
                hooks.pre_stop_by_id(engine, cfg, printer, {cid: s for s, cid in running.items()}),
            )
            for s in running:
                printer.event("service_stopped", service=s)
            return EXIT_SIGTERM if interrupted and interrupted[0] == signal.SIGTERM else EXIT_SIGINT
        finally:
            if not handed_to_loop:
                for s, h in [
                    *previous.items(),
                    (signal.SIGTERM, previous_term),
                    (signal.SIGINT, previous_int),
                ]:
                    signal.signal(s, h)
        # ready: every service running and every watch placed (what editor tasks wait for)
        try:
            printer.event("ready", services=order)
            return session.run()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            if session.forwards is not None:
                session.forwards.close()
