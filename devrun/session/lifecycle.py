"""Bringing a project up and down: preflight, images, network and volumes,
executing the converge plan in depends_on order, health waits. Every check
that can fail runs before anything is created, so an error leaves nothing
half-started."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from devrun import plan
from devrun.config.loader import LoadedConfig
from devrun.config.model import shared_network
from devrun.errors import EngineError
from devrun.output import Printer
from devrun.plan import ContainerSpec, Health, ImageInfo, Step, start_order
from devrun.session import hooks

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine


def image_tag(cfg: LoadedConfig, service: str) -> str:
    return plan.image_tag(cfg.name, service, cfg.project.services[service])


def resolve_images(
    engine: Engine, cfg: LoadedConfig, services: list[str], printer: Printer, *, force_build: bool = False
) -> dict[str, ImageInfo]:
    """Build (when asked or missing) or pull each service's image, in start order."""
    out: dict[str, ImageInfo] = {}
    for name in services:
        svc = cfg.project.services[name]
        tag = image_tag(cfg, name)
        info = None if (svc.build and force_build) else engine.image_info(tag)
        if info is None and svc.build:
            printer.info(f"building {name} ({tag})")
            info = engine.build(
                name,
                svc.build,
                tag,
                lambda line, n=name: printer.log(n, "build", line),
                lambda size, top, n=name: printer.info(large_context(engine, n, size, top)),
            )
        elif info is None:
            printer.info(f"pulling {tag} for {name}")
            info = engine.pull(tag, lambda line: None)
        out[name] = info
    return out


def large_context(engine: Engine, service: str, size: int, biggest: list[tuple[str, int]]) -> str:
    """The line for a build context worth shrinking: a slow link carries every byte."""

    def mb(n: int) -> str:
        return f"{n / 2**20:.0f} MB"

    line = f"building {service}: sending {mb(size)} of build context to the engine at {engine.where}"
    if biggest:
        names = ", ".join(f"{name} ({mb(n)})" for name, n in biggest)
        line += f"; a .dockerignore that leaves out {names} would shrink it"
    return line


def port_taken(host_ip: str, port: int, protocol: str) -> bool:
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with contextlib.closing(socket.socket(family, kind)) as s:
        # as docker-proxy does: connections in TIME_WAIT do not make a port busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("" if host_ip in ("0.0.0.0", "::") else host_ip, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


def check_ports(engine: Engine, cfg: LoadedConfig, services: list[str]) -> None:
    """Host ports must be free, except those our own running containers hold."""
    from devrun.session.remote import is_remote

    if is_remote(cfg, engine):
        return  # the engine's host is another machine: the forwards here take a free port when one is taken
    ours = engine.published_ports(cfg.name)
    problems = []
    for name in services:
        for p in cfg.project.services[name].ports:
            if p.published is None or (p.published, p.protocol) in ours or p.protocol == "sctp":
                continue
            if port_taken(p.host_ip, p.published, p.protocol):
                problems.append(
                    f"service {name}: host port {p.published} is already in use; stop what uses it or change `ports:`"
                )
    if problems:
        raise EngineError("\n".join(problems))


ALL_INTERFACES = ("0.0.0.0", "::", "")


def public_port_warnings(cfg: LoadedConfig, services: list[str]) -> list[str]:
    """One line per port published on every interface (reachable from the network)."""
    return [
        f"service {name}: port {p.published or p.target} is published on all interfaces ({p.host_ip or '0.0.0.0'}), "
        "so other machines can reach it; drop the address to bind 127.0.0.1"
        for name in services
        for p in cfg.project.services[name].ports
        if p.host_ip in ALL_INTERFACES
    ]


def check_clashes(engine: Engine, cfg: LoadedConfig, services: list[str]) -> None:
    volumes = sorted({plan.volume_name(cfg.project, cfg.name, v) for v in cfg.project.volumes})
    containers = [plan.container_name(cfg.name, s, cfg.project.services[s]) for s in services]
    networks = [n.name for n in plan.project_networks(cfg.project, cfg.name, services) if not n.external]
    clashes = engine.find_clashes(cfg.name, containers, networks, volumes)
    if clashes:
        raise EngineError("\n".join(clashes))


def check_files(cfg: LoadedConfig, services: list[str]) -> None:
    """Each secret and config the services use has its file, or its variable set."""
    problems = []
    for name in services:
        svc = cfg.project.services[name]
        for kind in ("secrets", "configs"):
            declared = getattr(cfg.project, kind)
            for ref in getattr(svc, kind):
                src = declared.get(ref.source)
                if src is None or src.external:
                    continue
                if src.file and not os.path.isfile(src.file):
                    problems.append(
                        f"service {name}: {kind[:-1]} {ref.source}: file {src.file} does not exist"
                    )
                elif src.environment and src.env_value is None:
                    problems.append(
                        f"service {name}: {kind[:-1]} {ref.source}: environment variable {src.environment} is not set"
                    )
    if problems:
        raise EngineError("\n".join(problems))


def up_warnings(cfg: LoadedConfig, services: list[str]) -> list[str]:
    """What `up` says once before it starts: ports open to the network, then
    each key the files ask for that devrun does not apply, and why."""
    return public_port_warnings(cfg, services) + list(dict.fromkeys(cfg.notes))


def ensure_networks(engine: Engine, cfg: LoadedConfig, services: list[str] | None = None) -> None:
    for net in plan.project_networks(cfg.project, cfg.name, services):
        engine.ensure_network(cfg.name, net.name, net)


def healthy_needed(cfg: LoadedConfig, services: set[str] | None = None) -> set[str]:
    """Services that one of `services` (default: all) depends on with condition
    service_healthy: `up db` alone neither waits for nor fails on db's health."""
    return {
        dep
        for name, svc in cfg.project.services.items()
        if services is None or name in services
        for dep, d in svc.depends_on.items()
        if d.condition == "service_healthy"
    }


def wait_healthy(
    engine: Engine, service: str, hc: Health | None, container_id: str, printer: Printer
) -> None:
    if hc is None:
        raise EngineError(
            f"service {service}: others wait for it to be healthy but it has no `healthcheck:`; add one"
        )
    printer.info(f"waiting for {service} to be healthy")
    deadline = time.monotonic() + hc.start_period + (hc.interval + hc.timeout) * (hc.retries + 1) + 5
    while time.monotonic() < deadline:
        state = engine.state(container_id)
        if state.health == "healthy":
            return
        if not state.running or state.health == "unhealthy":
            last = [state.health_output or f"exit code {state.exit_code}"]
            raise EngineError(f"service {service} did not become healthy: {last[0]}")
        time.sleep(0.1)
    raise EngineError(f"service {service} was not healthy in time; check its healthcheck")


def completed_needed(cfg: LoadedConfig, services: set[str] | None = None) -> dict[str, list[str]]:
    """Jobs that one of `services` (default: all) needs to exit 0 first
    (service_completed_successfully) -> the services that need them."""
    out: dict[str, list[str]] = {}
    for name, svc in cfg.project.services.items():
        if services is None or name in services:
            for dep, d in svc.depends_on.items():
                if d.condition == "service_completed_successfully":
                    out.setdefault(dep, []).append(name)
    return out


def wait_completed(
    engine: Engine, service: str, container_id: str, printer: Printer, needed_by: list[str]
) -> None:
    """Wait for the job to exit: 0 lets its dependents start, anything else is a
    failure naming the code, who needed it, and its last lines."""
    printer.info(f"waiting for {service} to complete ({', '.join(needed_by)} wait for it)")
    while (state := engine.state(container_id)).running:
        time.sleep(0.1)
    if state.exit_code == 0:
        printer.info(f"{service} completed successfully")
        return
    last = [line for _stream, line in engine.logs(container_id, follow=False, tail=5)]
    raise EngineError(
        f"service {service} exited with code {state.exit_code}; {', '.join(needed_by)} "
        f"need it to complete successfully, so they were not started"
        + "".join(f"\n  {service} | {line}" for line in last)
    )


def restart_dependents(
    engine: Engine,
    cfg: LoadedConfig,
    steps: list[Step],
    printer: Printer,
    expect_stop: Callable[[str], None] | None = None,
) -> None:
    """depends_on `restart: true`: a running dependent these steps did not
    touch is restarted after its dependency was recreated, as compose does."""
    recreated = {s.service for s in steps if s.kind == "recreate"}
    touched = {s.service for s in steps if s.kind != "keep"}
    why = {
        name: [d for d, spec in svc.depends_on.items() if spec.restart and d in recreated]
        for name, svc in cfg.project.services.items()
        if name not in touched
    }
    if not any(why.values()):
        return
    for o in engine.project_containers(cfg.name):
        if why.get(o.service) and o.state in plan.RUNNING_STATES:
            printer.info(
                f"restarting {o.service} ({', '.join(why[o.service])} recreated; depends_on restart: true)"
            )
            if expect_stop is not None:
                expect_stop(o.id)
            hooks.pre_stop(engine, cfg, printer, o.service, o.id)
            engine.restart(o.id, cfg.project.services[o.service].stop_grace_period)
            hooks.post_start(engine, cfg, printer, o.service, o.id)


def apply(
    engine: Engine,
    cfg: LoadedConfig,
    steps: list[Step],
    printer: Printer,
    on_started: Callable[[str, str], None],
    before_start: Callable[[str, str], None] | None = None,
    started: set[str] | None = None,
    expect_stop: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Execute converge steps in order; returns service -> container id.
    `before_start` brings each container level with the host before its app
    starts (created, recreated, or stopped and started again). If a step
    fails, containers this call created for new services are removed again; a
    recreate that fails puts the old container back (stopped). Health is
    waited for where one of `started` (default: every service) needs it,
    and so is a job's exit 0 (service_completed_successfully). Each start
    runs the service's post_start hooks, each recreate its pre_stop hooks first."""
    ensure_networks(engine, cfg, [s.service for s in steps if s.spec is not None])
    for vol in cfg.project.volumes:
        engine.ensure_volume(cfg.name, plan.volume_name(cfg.project, cfg.name, vol), vol)
    wait_for = healthy_needed(cfg, started)
    jobs = completed_needed(cfg, started)
    created: list[str] = []
    ids: dict[str, str] = {}
    renewed: set[str] = set()  # "container:NAME" of each container created or recreated here
    steps = list(steps)
    try:
        for i, step in enumerate(steps):
            cid = step.container_id
            why = "config changed"
            if step.kind in ("keep", "start") and step.spec and step.spec.network_mode in renewed:
                # it joined the old container's network: a new one joins the new container's
                steps[i] = step = dataclasses.replace(step, kind="recreate")
                why = f"its network is {step.spec.network_mode}, which was recreated"
            if step.kind == "remove" and cid:
                engine.remove(cid)
                continue
            assert step.spec is not None
            if step.kind == "recreate" and cid:
                printer.info(f"recreating {step.service} ({why})")
                hooks.pre_stop(engine, cfg, printer, step.service, cid)
                cid = replace_container(engine, step.spec, cid, before_start)
            elif step.kind == "create":
                # by name first: an interrupt between the engine's create and the id coming back
                # must still remove what was created
                created.append(step.spec.name)
                cid = engine.create(step.spec)
                created.append(cid)
                if before_start is not None:
                    before_start(step.service, cid)
            elif step.kind == "start" and cid and before_start is not None:
                before_start(step.service, cid)
            assert cid is not None
            ids[step.service] = cid
            if step.kind in ("create", "recreate"):
                renewed.add(f"container:{step.spec.name}")
            if step.kind != "keep":
                engine.start(cid)
                on_started(step.service, cid)
                hooks.post_start(engine, cfg, printer, step.service, cid)
            if step.service in wait_for:
                wait_healthy(engine, step.service, step.spec.healthcheck, cid, printer)
            if step.service in jobs:
                wait_completed(engine, step.service, cid, printer, jobs[step.service])
        followed = follow_shared_network(engine, cfg, renewed, set(ids), printer, before_start, expect_stop)
        for service, cid in followed.items():
            ids[service] = cid
            on_started(service, cid)
        steps += [Step("recreate", service, None, cid) for service, cid in followed.items()]
        restart_dependents(engine, cfg, steps, printer, expect_stop)
    except (EngineError, KeyboardInterrupt):
        for cid in created:
            with contextlib.suppress(EngineError):
                engine.remove(cid, volumes=True)  # new and empty: nothing of the user's in them
        raise
    return ids


def follow_shared_network(
    engine: Engine,
    cfg: LoadedConfig,
    renewed: set[str],
    done: set[str],
    printer: Printer,
    before_start: Callable[[str, str], None] | None,
    expect_stop: Callable[[str], None] | None,
) -> dict[str, str]:
    """Containers on the network of one recreated here (network_mode: service:X)
    that the steps did not touch: the engine pinned the old container's id, so
    each is recreated onto the new one (started if it ran); service -> new id."""
    out: dict[str, str] = {}
    for o in engine.project_containers(cfg.name) if renewed else ():
        svc = cfg.project.services.get(o.service)
        other = shared_network(svc) if svc and o.service not in done else None
        name = plan.container_name(cfg.name, other, cfg.project.services[other]) if other else ""
        info = engine.image_info(image_tag(cfg, o.service)) if f"container:{name}" in renewed else None
        if info is None:
            continue
        printer.info(f"recreating {o.service} (its network is container:{name}, which was recreated)")
        if expect_stop is not None:
            expect_stop(o.id)
        hooks.pre_stop(engine, cfg, printer, o.service, o.id)
        new = replace_container(
            engine, plan.service_spec(cfg.project, cfg.name, o.service, info), o.id, before_start
        )
        if o.state in plan.RUNNING_STATES:
            engine.start(new)
            hooks.post_start(engine, cfg, printer, o.service, new)
        out[o.service] = new
    return out


def restart_container(
    engine: Engine,
    cid: str,
    grace: float,
    expect_stop: Callable[[str], None],
    pre_stop: Callable[[str], object] | None = None,
    post_start: Callable[[str], object] | None = None,
) -> str:
    """Restart one container the fastest way it allows; returns how: "process"
    (the supervisor restarts the app in place: network, container and log
    stream stay), "container" (an engine restart, announced to `expect_stop`
    first) or "start" (it was not running: the crashed app starts on the new
    code). `devrun restart` and a watch rule's restart both come here. The
    hooks (pre_stop, post_start) run around a container's stop and start, not
    around a process restart: the container, and what post_start set up in
    it, stays."""
    state = engine.state(cid)
    if not state.running:
        engine.start(cid)
        if post_start is not None:
            post_start(cid)
        return "start"
    if state.restart_mode == "process":
        engine.restart_process(cid)
        return "process"
    expect_stop(cid)
    if pre_stop is not None:
        pre_stop(cid)
    engine.restart(cid, grace)
    if post_start is not None:
        post_start(cid)
    return "container"


def replace_container(
    engine: Engine, spec: ContainerSpec, old: str, before_start: Callable[[str, str], None] | None
) -> str:
    """Compose's recreate: the old container steps aside under another name,
    the new one is created with the old one's anonymous volumes (an image's
    VOLUME, `volumes: [/data]`) and synced, and only then is the old one
    removed. Interrupted or failed before that, the old one is put back, stopped."""
    state = engine.state(old)
    engine.stop(old, spec.stop_timeout)
    engine.rename(old, f"{old[:12]}_{state.name}")
    new: str | None = None
    try:
        new = engine.create(spec, inherit=state.anonymous_volumes)
        if before_start is not None:
            before_start(spec.service, new)
    except BaseException:
        with contextlib.suppress(EngineError):
            if new is not None:
                engine.remove(new)
            engine.rename(old, state.name)
        raise
    engine.remove(old)
    return new


def converge_project(
    engine: Engine,
    cfg: LoadedConfig,
    only: list[str] | None,
    printer: Printer,
    *,
    force_build: bool = False,
    no_recreate: bool = False,
    on_started: Callable[[str, str], None] = lambda s, c: None,
    before_start: Callable[[str, str], None] | None = None,
) -> dict[str, str]:
    """The whole of `up` before log streaming: preflight, images, plan, apply."""
    services = start_order(cfg.project, only or None)
    check_clashes(engine, cfg, services)
    check_files(cfg, services)
    check_ports(engine, cfg, services)
    images = resolve_images(engine, cfg, services, printer, force_build=force_build)
    for name, info in images.items():
        note = plan.restart_mode_note(name, cfg.project.services[name], info)
        if note:
            printer.warn(note)
    desired = plan.desired_specs(cfg.project, cfg.name, images)
    steps = plan.converge(desired, engine.project_containers(cfg.name), no_recreate=no_recreate)
    return apply(engine, cfg, steps, printer, on_started, before_start, started=set(services))


def grace(cfg: LoadedConfig, service: str, timeout: float | None = None) -> float:
    """How long a stop waits before the engine kills: `-t` when given, else
    the service's stop_grace_period."""
    if timeout is not None:
        return timeout
    svc = cfg.project.services.get(service)
    return svc.stop_grace_period if svc else 10.0


def stop_containers(
    engine: Engine, targets: list[tuple[str, float]], pre_stop: Callable[[str], object] | None = None
) -> None:
    """Stop (container id, grace) pairs in parallel: graceful, then the engine
    kills; `pre_stop(id)` (the service's hooks) runs first, whatever it answers."""
    if not targets:
        return

    def stop(cid: str, grace: float) -> None:
        if pre_stop is not None:
            pre_stop(cid)
        engine.stop(cid, grace)

    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        for f in [pool.submit(stop, cid, grace) for cid, grace in targets]:
            with contextlib.suppress(EngineError):
                f.result()


def down(
    engine: Engine,
    cfg: LoadedConfig,
    printer: Printer,
    *,
    volumes: bool = False,
    remove_orphans: bool = False,
) -> None:
    found = engine.project_containers(cfg.name)
    mine = [o for o in found if remove_orphans or o.service in cfg.project.services]
    grace = {n: s.stop_grace_period for n, s in cfg.project.services.items()}
    left = [o for o in found if o not in mine]
    if left:
        printer.warn(
            f"containers of services no longer in the config stay: {', '.join(o.name for o in left)} (use --remove-orphans)"
        )
    pre_stop = hooks.pre_stop_by_id(engine, cfg, printer, {o.id: o.service for o in mine})
    _take_down(engine, cfg.name, printer, mine, grace, volumes=volumes, networks=not left, pre_stop=pre_stop)


def down_by_labels(engine: Engine, project: str, printer: Printer, *, volumes: bool = False) -> None:
    """`down` without a readable config: everything carrying the project label
    goes, each container with the default grace period."""
    _take_down(
        engine, project, printer, engine.project_containers(project), {}, volumes=volumes, networks=True
    )


def _take_down(
    engine: Engine,
    project: str,
    printer: Printer,
    containers: list,
    grace: dict[str, float],
    *,
    volumes: bool,
    networks: bool,
    pre_stop: Callable[[str], object] | None = None,
) -> None:
    stop_containers(
        engine,
        [(o.id, grace.get(o.service, 10.0)) for o in containers if o.state in plan.RUNNING_STATES],
        pre_stop,
    )
    for o in containers:
        engine.remove(o.id, volumes=volumes)
        printer.event("service_stopped", service=o.service)
    if networks:
        for net in engine.project_networks(project):
            engine.remove_network(net)
    if volumes:
        for vol in engine.project_volumes(project):
            engine.remove_volume(vol)
            printer.info(f"removed volume {vol}")
