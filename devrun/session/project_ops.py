"""What the compose-shaped commands do beyond one engine call: one-off
containers (`run`), copies (`cp`), published ports (`port`), `up --wait`,
images for `down --rmi` and `images`, and the project's containers as rows.
The CLI parses and prints; the decisions live here."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from devrun import labels, plan
from devrun.config.loader import LoadedConfig
from devrun.errors import DevrunError, EngineError, UsageError
from devrun.output import Printer
from devrun.plan import Observed, start_order
from devrun.session import hooks, lifecycle, remote

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine


def without_deps(cfg: LoadedConfig) -> LoadedConfig:
    """The config with every depends_on dropped: `up --no-deps web` starts web alone."""
    services = {n: s.model_copy(update={"depends_on": {}}) for n, s in cfg.project.services.items()}
    return dataclasses.replace(cfg, project=cfg.project.model_copy(update={"services": services}))


def service_containers(
    engine: Engine, cfg: LoadedConfig, services: list[str], *, states: tuple[str, ...] | None = None
) -> list[Observed]:
    """The services' own containers (no one-offs), optionally only in `states`;
    an error naming the next step when there is none."""
    found = [
        o
        for o in engine.project_containers(cfg.name)
        if o.service and (not services or o.service in services) and (states is None or o.state in states)
    ]
    if not found:
        what = ", ".join(services) or f"project {cfg.name}"
        raise DevrunError(f"no {'running ' if states else ''}containers for {what}; run `devrun up` first")
    return found


def oneoff_containers(engine: Engine, project: str) -> list[tuple[Observed, str]]:
    """(container, service) of each `run` container of the project."""
    out = []
    for o in engine.project_containers(project):
        if o.service:
            continue
        lab = engine.state(o.id).labels
        if labels.ONEOFF in lab:
            out.append((o, lab[labels.ONEOFF]))
    return out


def remove_oneoffs(engine: Engine, project: str, *, volumes: bool = False) -> None:
    for o, _service in oneoff_containers(engine, project):
        engine.remove(o.id, volumes=volumes)


def remove_orphans(engine: Engine, cfg: LoadedConfig, printer: Printer, timeout: float | None) -> None:
    """Containers of services no longer in the config (not one-offs)."""
    orphans = [
        o for o in engine.project_containers(cfg.name) if o.service and o.service not in cfg.project.services
    ]
    lifecycle.stop_containers(engine, [(o.id, lifecycle.grace(cfg, o.service, timeout)) for o in orphans])
    for o in orphans:
        engine.remove(o.id)
        printer.info(f"removed orphan container {o.name}")


def force_recreate(
    engine: Engine, cfg: LoadedConfig, services: list[str], printer: Printer, timeout: float | None
) -> None:
    """`up --force-recreate`: each of the services' containers is replaced by a
    new one (compose's recreate: anonymous volumes carried over), stopped after
    up to -t; `up` then starts it like any stopped container."""
    found = [o for o in engine.project_containers(cfg.name) if o.service in services]
    if not found:
        return
    images = lifecycle.resolve_images(engine, cfg, sorted({o.service for o in found}), printer)
    desired = plan.desired_specs(cfg.project, cfg.name, images)
    lifecycle.stop_containers(
        engine,
        [(o.id, lifecycle.grace(cfg, o.service, timeout)) for o in found],
        hooks.pre_stop_by_id(engine, cfg, printer, {o.id: o.service for o in found}),
    )
    for o in found:
        printer.info(f"recreating {o.service} (--force-recreate)")
        lifecycle.replace_container(engine, desired[o.service], o.id, None)


def start_existing(
    engine: Engine, cfg: LoadedConfig, services: list[str], printer: Printer | None = None
) -> set[str]:
    """`up --no-recreate`: start the services' existing containers as they are
    (each then runs its post_start hooks); returns the services that had one."""
    printer = printer or Printer(err=sys.stderr)
    found = [o for o in engine.project_containers(cfg.name) if o.service in services]
    level = remote.level_hook(cfg, engine, printer)
    for o in found:
        if o.state not in plan.RUNNING_STATES:
            if level is not None:
                level(o.service, o.id)
            engine.start(o.id)
            hooks.post_start(engine, cfg, printer, o.service, o.id)
    return {o.service for o in found}


def start_services(engine: Engine, cfg: LoadedConfig, services: list[str], printer: Printer) -> list[str]:
    """compose's `start`: the services' existing containers started in
    dependency order, each once what it depends on is healthy
    (service_healthy) or has exited 0 (service_completed_successfully);
    returns the services started."""
    every = {o.service: o for o in engine.project_containers(cfg.name) if o.service}
    found = {o.service: o for o in service_containers(engine, cfg, services)}
    level = remote.level_unless_up_runs(cfg, engine, printer)
    settled: set[str] = set()
    started = []
    for name in start_order(cfg.project, sorted(found)):
        if name not in found:
            continue  # a dependency not asked for: waited on below only if it runs
        for dep, d in cfg.project.services[name].depends_on.items():
            if dep in settled or dep not in every:
                continue
            settled.add(dep)
            if d.condition == "service_healthy":
                hc = plan.health_of(cfg.project.services[dep])
                lifecycle.wait_healthy(engine, dep, hc, every[dep].id, printer)
            elif d.condition == "service_completed_successfully":
                lifecycle.wait_completed(engine, dep, every[dep].id, printer, [name])
        o = found[name]
        if o.state not in plan.RUNNING_STATES:
            if level is not None:
                level(name, o.id)
            engine.start(o.id)
            printer.info(f"started {name}")
            hooks.post_start(engine, cfg, printer, name, o.id)
            started.append(name)
    return started


def stop_services(
    engine: Engine,
    cfg: LoadedConfig,
    services: list[str],
    timeout: float | None,
    printer: Printer | None = None,
) -> list[Observed]:
    """Stop the services' running containers (all services when none named), in
    parallel, each with -t or its stop_grace_period, after its pre_stop hooks;
    returns those stopped."""
    running = [
        o
        for o in engine.project_containers(cfg.name)
        if o.service and (not services or o.service in services) and o.state in plan.RUNNING_STATES
    ]
    lifecycle.stop_containers(
        engine,
        [(o.id, lifecycle.grace(cfg, o.service, timeout)) for o in running],
        hooks.pre_stop_by_id(
            engine, cfg, printer or Printer(err=sys.stderr), {o.id: o.service for o in running}
        ),
    )
    return running


def removable(engine: Engine, cfg: LoadedConfig, services: list[str]) -> list[Observed]:
    """`rm`: the stopped containers of the services, one-off ones included."""
    stopped = [o for o in engine.project_containers(cfg.name) if o.state not in plan.RUNNING_STATES]
    oneoff = {o.id: service for o, service in oneoff_containers(engine, cfg.name)}
    return [o for o in stopped if not services or (o.service or oneoff.get(o.id)) in services]


def _no_one(_cid: str) -> None:
    """No running `up` of this command to tell about a stop it causes."""


def restart_services(
    engine: Engine,
    cfg: LoadedConfig,
    services: list[str],
    printer: Printer,
    timeout: float | None,
    settle: float = 1.0,
) -> None:
    """Restart the services' containers the fastest way each allows (the app
    process in place, else the container). A restart is done only when the new
    process is still running `settle` seconds later: one that exits at once is
    a failed restart, reported with its exit code and last lines."""
    done: list[tuple[Observed, str, int]] = []
    level = remote.level_unless_up_runs(cfg, engine, printer)
    for o in service_containers(engine, cfg, services):
        t0 = time.monotonic()
        if level is not None:
            level(o.service, o.id)  # edits made since a detached up: the app restarts onto them
        how = lifecycle.restart_container(
            engine,
            o.id,
            lifecycle.grace(cfg, o.service, timeout),
            _no_one,
            pre_stop=lambda c, s=o.service: hooks.pre_stop(engine, cfg, printer, s, c),
            post_start=lambda c, s=o.service: hooks.post_start(engine, cfg, printer, s, c),
        )
        done.append((o, "container" if how == "start" else how, int((time.monotonic() - t0) * 1000)))
    time.sleep(settle)
    failed = []
    for o, mode, ms in done:
        state = engine.state(o.id)
        if state.running:
            printer.info(f"restarted {o.service} ({mode} mode, {ms} ms)")
            continue
        last = [line for _stream, line in engine.logs(o.id, follow=False, tail=5)]
        failed.append(
            f"restart of {o.service} failed: it exited with code {state.exit_code} right after starting; "
            f"see `devrun logs {o.service}`" + "".join(f"\n  {line}" for line in last)
        )
    if failed:
        raise EngineError("\n".join(failed))


def exit_code_of(engine: Engine, cfg: LoadedConfig, service: str) -> int:
    """The exit code of the service's container (0 while it runs)."""
    for o in service_containers(engine, cfg, [service]):
        return int(engine.state(o.id).exit_code or 0)
    return 0


def check_built(engine: Engine, cfg: LoadedConfig, services: list[str]) -> None:
    """`--no-build`: every image to be built must already be there."""
    missing = [
        s
        for s in services
        if cfg.project.services[s].build and not engine.has_image(lifecycle.image_tag(cfg, s))
    ]
    if missing:
        raise DevrunError(
            f"--no-build, but the image of {', '.join(missing)} was never built; run `devrun build {' '.join(missing)}`"
        )


def wait_ready(engine: Engine, cfg: LoadedConfig, services: list[str], timeout: float | None) -> None:
    """`up --wait`: return once each service's container runs and, where it has a
    healthcheck, is healthy; an error at once when one exits or turns unhealthy."""
    deadline = None if timeout is None else time.monotonic() + timeout
    wanted = services or sorted(cfg.project.services)
    while True:
        pending = []
        for o in service_containers(engine, cfg, wanted):
            state = engine.state(o.id)
            health = state.health
            if not state.running:
                raise EngineError(
                    f"{o.service} exited with code {state.exit_code} while waiting for it; "
                    f"see `devrun logs {o.service}`"
                )
            if health == "unhealthy":
                raise EngineError(
                    f"{o.service} is unhealthy; see `devrun logs {o.service}` and its healthcheck"
                )
            if health not in (None, "healthy"):
                pending.append(o.service)
        if not pending:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise EngineError(
                f"not healthy within --wait-timeout {timeout:g}s: {', '.join(pending)}; "
                "see `devrun ps` and `devrun logs`"
            )
        time.sleep(0.2)


# ---- run: one-off containers -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RunOptions:
    service: str
    command: list[str]
    remove: bool = False
    detach: bool = False
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    entrypoint: list[str] | None = None
    tty: bool = False
    no_deps: bool = False
    service_ports: bool = False
    name: str | None = None


def env_pairs(items: list[str]) -> dict[str, str]:
    """`-e KEY=VALUE`, or `-e KEY` for the value in devrun's own environment."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"-e {item}: give KEY=VALUE or KEY")
        if sep:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def run_oneoff(
    engine: Engine,
    cfg: LoadedConfig,
    printer: Printer,
    opts: RunOptions,
    out: Callable[[int, bytes], None],
    stdin: Any = None,
    terminal: Callable[[str], int] | None = None,
) -> tuple[str, int]:
    """Create and run a one-off container of a service: its dependencies are
    brought up first (unless no_deps); returns (container name, exit code),
    the code 0 at once when detached. Output goes to `out`, the `stdin` file
    (if any) in; or, with `terminal`, that attaches the user's terminal to the
    created container id and returns the exit code."""
    cfg = remote.adapt(cfg, engine)  # project binds become copies where the engine cannot see them
    svc = cfg.project.services[opts.service]
    if not opts.no_deps:
        deps = [s for s in start_order(cfg.project, [opts.service]) if s != opts.service]
        if deps:
            lifecycle.converge_project(
                engine, cfg, deps, printer, before_start=remote.level_hook(cfg, engine, printer)
            )
    lifecycle.ensure_networks(engine, cfg, [opts.service])
    for vol in cfg.project.volumes:
        engine.ensure_volume(cfg.name, plan.volume_name(cfg.project, cfg.name, vol), vol)
    image = lifecycle.resolve_images(engine, cfg, [opts.service], printer)[opts.service]
    base = plan.service_spec(cfg.project, cfg.name, opts.service, image)
    entrypoint = opts.entrypoint if opts.entrypoint is not None else svc.entrypoint
    command = opts.command or (svc.command if opts.entrypoint is None else None)
    spec = dataclasses.replace(
        base,
        name=opts.name or f"{cfg.name}-{opts.service}-run-{uuid.uuid4().hex[:12]}",
        entrypoint=tuple(entrypoint) if entrypoint is not None else None,
        command=tuple(command) if command is not None else None,
        env=tuple(sorted({**dict(base.env), **opts.env}.items())),
        ports=base.ports if opts.service_ports else (),
        # a one-off is no second instance of the service: no static address, no aliases
        aliases=(),
        ipv4_address=None,
        ipv6_address=None,
        networks=tuple(
            dataclasses.replace(e, aliases=(), ipv4_address=None, ipv6_address=None) for e in base.networks
        ),
        user=opts.user or base.user,
        working_dir=opts.workdir or base.working_dir,
        tty=opts.tty,
        restart_mode="container",
        restart_policy="no",
    )
    patch: dict[str, str | None] = {
        labels.SERVICE: None,
        labels.CONFIG_HASH: None,
        labels.RESTART_MODE: None,
        labels.ONEOFF: opts.service,
    }
    attached = (stdin is not None or terminal is not None) and not opts.detach
    cid = engine.create_oneoff(spec, patch, stdin=attached)
    try:
        remote.copy_into_oneoff(cfg, engine, printer, opts.service, cid)
    except BaseException:
        with contextlib.suppress(EngineError):
            engine.remove(cid, volumes=True)
        raise
    if opts.detach:
        engine.start(cid)
        return spec.name, 0
    try:
        code = terminal(cid) if terminal is not None else engine.run_io(cid, out, stdin=stdin)
    except KeyboardInterrupt:
        lifecycle.stop_containers(engine, [(cid, spec.stop_timeout)])
        raise
    finally:
        if opts.remove:
            with contextlib.suppress(EngineError):
                engine.remove(cid, volumes=True)  # as compose's run --rm: its anonymous volumes too
    return spec.name, code


# ---- cp --------------------------------------------------------------------------


def split_copy_arg(arg: str) -> tuple[str | None, str]:
    """`SERVICE:PATH` -> (service, path); a local path -> (None, path). As
    docker cp reads it: a path starting with / or . is local even with a colon."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    service, _, path = arg.partition(":")
    return service, path


def copy_into(engine: Engine, cid: str, src: str, dest: str, *, keep_owner: bool = False) -> None:
    """docker cp SRC CONTAINER:DEST: into DEST when it is a directory, else as DEST."""
    source = Path(src)
    if not source.exists():
        raise UsageError(f"cp: {src}: no such file or directory on this machine")
    contents = src.endswith(("/.", "/./"))
    into_dir = contents or bool((stat := engine.path_stat(cid, dest)) and stat.is_dir)
    where, name = (
        (dest, source.name) if into_dir else (os.path.dirname(dest.rstrip("/")) or "/", Path(dest).name)
    )
    buf = io.BytesIO()

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if not keep_owner:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
        return info

    with tarfile.open(fileobj=buf, mode="w") as tar:
        if contents:
            for child in sorted(source.iterdir()):
                tar.add(child, arcname=child.name, filter=owner)
        else:
            tar.add(source, arcname=name, filter=owner)
    engine.put_archive(cid, where, buf.getvalue())


def copy_out(engine: Engine, cid: str, src: str, dest: str) -> None:
    """docker cp CONTAINER:SRC DEST: into DEST when it is a directory, else as DEST."""
    target = Path(dest)
    contents = src.endswith(("/.", "/./"))
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as spool:
        for chunk in engine.get_archive(cid, src):
            spool.write(chunk)
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r:") as tar:
            tar.extractall(tmp, filter="data")
        entries = os.listdir(tmp)
        if not entries:
            raise DevrunError(f"cp: {src}: nothing to copy")
        got = Path(tmp) / entries[0]
        if contents:
            target.mkdir(parents=True, exist_ok=True)
            for child in got.iterdir():
                shutil.move(str(child), target / child.name)
            return
        final = target / got.name if target.is_dir() else target
        if not final.parent.is_dir():
            raise UsageError(f"cp: {final.parent}: no such directory on this machine")
        if final.is_dir() and got.is_dir():
            shutil.copytree(got, final, dirs_exist_ok=True)
        else:
            shutil.move(str(got), final)


# ---- port, images, rmi ---------------------------------------------------------------


def published(engine: Engine, cid: str, port: int, protocol: str) -> str:
    """`HOST_IP:PORT` of a container's published port, as compose prints it."""
    ports = engine.state(cid).ports
    binds = [p for p in ports if (p.target, p.protocol) == (port, protocol)]
    if not binds:
        have = ", ".join(dict.fromkeys(f"{p.target}/{p.protocol}" for p in ports)) or "none"
        raise DevrunError(
            f"no published port {port}/{protocol} (published: {have}); see `ports:` in the config"
        )
    return f"{binds[0].host_ip}:{binds[0].host_port}"


def port_urls(engine: Engine, cfg: LoadedConfig, services: list[str]) -> list[str]:
    """`SERVICE: http://HOST:PORT (-> TARGET/tcp)` for each port the running
    services publish, for the lines around `ready`. No engine call when no
    service publishes a port (the common case costs `ready` nothing)."""
    if not any(cfg.project.services[s].ports for s in services if s in cfg.project.services):
        return []
    out = []
    for o in engine.project_containers(cfg.name):
        if o.service not in services or o.state != "running":
            continue
        for p in engine.state(o.id).ports:
            host = p.host_ip if p.host_ip not in ("0.0.0.0", "::", "") else "localhost"
            host = f"[{host}]" if ":" in host else host
            scheme = "http://" if p.protocol == "tcp" else f"{p.protocol} "
            out.append(f"{o.service}: {scheme}{host}:{p.host_port} (-> {p.target}/{p.protocol})")
    return out


def image_refs(cfg: LoadedConfig, mode: Literal["local", "all"]) -> list[str]:
    """The images `down --rmi` removes: `local` those devrun built under its own
    tag (services with `build` and no `image`), `all` every service's image."""
    return sorted(
        {
            lifecycle.image_tag(cfg, name)
            for name, svc in cfg.project.services.items()
            if mode == "all" or (svc.build and not svc.image)
        }
    )


def remove_images(engine: Engine, refs: list[str], printer: Printer) -> None:
    for ref in refs:
        if engine.remove_image(ref):
            printer.info(f"removed image {ref}")


def image_rows(engine: Engine, cfg: LoadedConfig, services: list[str]) -> list[dict[str, Any]]:
    rows = []
    for o in service_containers(engine, cfg, services):
        image_id = engine.state(o.id).image_id
        image = engine.image_details(image_id)
        tags = (image.tags if image else ()) or ("<none>:<none>",)
        repo, _, tag = tags[0].rpartition(":")
        rows.append(
            {
                "container": o.name,
                "service": o.service,
                "repository": repo,
                "tag": tag,
                "id": image_id.removeprefix("sha256:"),
                "size": image.size if image else 0,
            }
        )
    return rows
