"""What should run, and what to do about what runs now. Pure: plain data in,
plain data out; the engine module does the I/O.

`desired_specs` turns the config (plus resolved images) into one ContainerSpec
per service; `converge` compares those with the containers the engine reports
and decides create / recreate / start / keep / remove, the way compose v1's
convergence plan does, by comparing a config-hash label."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

from devrun import __version__, labels
from devrun.config.model import Project, Service

SUPERVISOR_ARGV0 = "devrun-supervisor"
RUNNING_STATES = ("running", "restarting")


@dataclass(frozen=True)
class ImageInfo:
    """What devrun needs to know about an image (from image inspect)."""

    ref: str
    id: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    has_shell: bool = False


@dataclass(frozen=True)
class Port:
    target: int
    published: int | None
    host_ip: str
    protocol: str


@dataclass(frozen=True)
class Mount:
    type: Literal["bind", "volume"]
    source: str | None  # host path, or the engine's volume name
    target: str
    read_only: bool


@dataclass(frozen=True)
class Health:
    test: tuple[str, ...]
    interval: float
    timeout: float
    retries: int
    start_period: float


@dataclass(frozen=True)
class ContainerSpec:
    project: str
    service: str
    name: str
    image_ref: str
    image_id: str
    entrypoint: tuple[str, ...] | None  # None: the image's own
    command: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]
    ports: tuple[Port, ...]
    mounts: tuple[Mount, ...]
    user_labels: tuple[tuple[str, str], ...]
    init: bool
    stop_signal: str
    stop_timeout: float
    network: str | None  # None with network_mode host/none
    network_mode: str | None
    aliases: tuple[str, ...]
    healthcheck: Health | None
    restart_mode: Literal["process", "container"]
    restart_policy: str
    working_dir: str | None = None
    user: str | None = None
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    tty: bool = False
    # the argv the app really runs (inside the supervisor in process mode)
    app_argv: tuple[str, ...] = field(default=())


def config_hash(spec: ContainerSpec) -> str:
    """sha256 of the canonical JSON of the resolved spec; the image id is part
    of it, so a rebuilt image recreates the container."""
    text = json.dumps(asdict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def container_labels(spec: ContainerSpec) -> dict[str, str]:
    return {
        **dict(spec.user_labels),
        labels.PROJECT: spec.project,
        labels.SERVICE: spec.service,
        labels.CONFIG_HASH: config_hash(spec),
        labels.VERSION: __version__,
        labels.RESTART_MODE: spec.restart_mode,
    }


@cache
def supervisor_script(grace: float) -> str:
    text = resources.files("devrun").joinpath("engine", "supervisor.sh").read_text()
    body = "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return f"grace={grace:g}\n{body}\n"


def app_argv(svc: Service, image: ImageInfo) -> tuple[str, ...]:
    """ENTRYPOINT + CMD as docker would combine them (a configured entrypoint
    drops the image's CMD)."""
    entry = tuple(svc.entrypoint) if svc.entrypoint is not None else image.entrypoint
    if svc.command is not None:
        cmd = tuple(svc.command)
    else:
        cmd = image.cmd if svc.entrypoint is None else ()
    return entry + cmd


def restart_mode(svc: Service, image: ImageInfo) -> Literal["process", "container"]:
    # a signal rule using USR2 would collide with the supervisor's restart signal
    uses_usr2 = any(r.action == "signal" and r.signal == "SIGUSR2" for r in svc.watch)
    if svc.restart_mode == "container" or uses_usr2 or not image.has_shell:
        return "container"
    return "process"


def restart_mode_note(service: str, svc: Service, image: ImageInfo) -> str | None:
    """Why a service that asked for (or, with restart rules, would use) the
    fast in-place restart gets whole-container restarts instead, or None."""
    restarts = any(r.action in ("restart", "sync+restart") for r in svc.watch)
    if (
        restart_mode(svc, image) == "process"
        or svc.restart_mode == "container"
        or not (svc.restart_mode == "process" or restarts)
    ):
        return None
    if not image.has_shell:
        why = f"its image {image.ref} has no /bin/sh"
    else:
        why = "a watch rule sends SIGUSR2, the in-place restart's own signal"
    return f"service {service}: restarts restart the whole container (slower): {why}"


def volume_name(project: Project, project_name: str, volume: str) -> str:
    spec = project.volumes.get(volume)
    return spec.name if spec and spec.name else f"{project_name}_{volume}"


def network_name(project_name: str) -> str:
    return f"{project_name}_default"


def service_spec(project: Project, project_name: str, service: str, image: ImageInfo) -> ContainerSpec:
    svc = project.services[service]
    mode = restart_mode(svc, image)
    argv = app_argv(svc, image)
    if mode == "process":
        entrypoint: tuple[str, ...] | None = (
            "/bin/sh",
            "-c",
            supervisor_script(svc.stop_grace_period),
            SUPERVISOR_ARGV0,
        )
        command: tuple[str, ...] | None = argv
    else:
        entrypoint = tuple(svc.entrypoint) if svc.entrypoint is not None else None
        command = tuple(svc.command) if svc.command is not None else None
    mounts = tuple(
        Mount(
            m.type,
            volume_name(project, project_name, m.source) if m.type == "volume" and m.source else m.source,
            m.target,
            m.read_only,
        )
        for m in svc.volumes
    )
    # no test (disabled, or the image's own): nothing to send, as engine_wire prefixes CMD
    hc = svc.healthcheck if svc.healthcheck and svc.healthcheck.test and not svc.healthcheck.disable else None
    own_network = svc.network_mode in (None, "bridge")
    return ContainerSpec(
        project=project_name,
        service=service,
        name=f"{project_name}-{service}",
        image_ref=image.ref,
        image_id=image.id,
        entrypoint=entrypoint,
        command=command,
        env=tuple(sorted((k, v) for k, v in svc.environment.items() if v is not None)),
        ports=tuple(Port(p.target, p.published, p.host_ip, p.protocol) for p in svc.ports),
        mounts=mounts,
        user_labels=tuple(sorted((k, v or "") for k, v in svc.labels.items())),
        init=svc.init,
        stop_signal=svc.stop_signal,
        stop_timeout=svc.stop_grace_period,
        network=network_name(project_name) if own_network else None,
        network_mode=None if own_network else svc.network_mode,
        aliases=(service,) if own_network else (),
        healthcheck=Health(tuple(hc.test), hc.interval, hc.timeout, hc.retries, hc.start_period)
        if hc
        else None,
        restart_mode=mode,
        restart_policy=svc.restart,
        working_dir=svc.working_dir,
        user=svc.user,
        privileged=svc.privileged,
        cap_add=tuple(svc.cap_add),
        tty=svc.tty,
        app_argv=argv,
    )


def desired_specs(
    project: Project, project_name: str, images: dict[str, ImageInfo]
) -> dict[str, ContainerSpec]:
    """One spec per service that has a resolved image, in the order of `images`
    (callers pass them in start order)."""
    return {name: service_spec(project, project_name, name, info) for name, info in images.items()}


@dataclass(frozen=True)
class Observed:
    """A container the engine reports for the project."""

    id: str
    name: str
    service: str
    state: str
    config_hash: str
    restart_mode: str = "container"


@dataclass(frozen=True)
class ContainerState:
    """What the engine says of one container, as plain data."""

    running: bool
    paused: bool
    status: str
    exit_code: int | None
    started_at: str
    restart_mode: str
    name: str
    anonymous_volumes: tuple[tuple[str, str], ...] = ()  # (volume, path in the container)
    mounts: tuple[str, ...] = ()  # every mount's path in the container
    image_id: str = ""


StepKind = Literal["create", "recreate", "start", "keep", "remove"]


@dataclass(frozen=True)
class Step:
    kind: StepKind
    service: str
    spec: ContainerSpec | None = None
    container_id: str | None = None  # the existing container, if any


def converge(
    desired: dict[str, ContainerSpec],
    observed: list[Observed],
    *,
    remove_orphans: bool = False,
    no_recreate: bool = False,
) -> list[Step]:
    """Steps that make `observed` match `desired`, in the order of `desired`
    (start order), removals of extra containers first. `no_recreate`
    (compose's `up --no-recreate`) keeps a container whose config changed."""
    by_service: dict[str, list[Observed]] = {}
    for o in observed:
        by_service.setdefault(o.service, []).append(o)
    steps: list[Step] = []
    for service, found in by_service.items():
        if service not in desired:
            if remove_orphans:
                steps.extend(Step("remove", service, None, o.id) for o in found)
            continue
        # one container per service; duplicates (a crashed earlier run) go
        found.sort(
            key=lambda o: (o.config_hash != config_hash(desired[service]), o.state not in RUNNING_STATES)
        )
        steps.extend(Step("remove", service, None, o.id) for o in found[1:])
    for service, spec in desired.items():
        found = by_service.get(service)
        if not found:
            steps.append(Step("create", service, spec))
            continue
        current = found[0]
        if current.config_hash != config_hash(spec) and not no_recreate:
            steps.append(Step("recreate", service, spec, current.id))
        elif current.state in RUNNING_STATES:
            steps.append(Step("keep", service, spec, current.id))
        else:
            steps.append(Step("start", service, spec, current.id))
    return steps
