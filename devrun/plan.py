"""What should run, and what to do about what runs now. Pure: plain data in,
plain data out; the engine module does the I/O.

`desired_specs` turns the config (plus resolved images) into one ContainerSpec
per service; `converge` compares those with the containers the engine reports
and decides create / recreate / start / keep / remove, the way compose v1's
convergence plan does, by comparing a config-hash label."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

from devrun import __version__, labels
from devrun.config.model import NetworkAttach, NetworkSpec, Project, Service, shared_network

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
    type: Literal["bind", "volume", "tmpfs"]
    source: str | None  # host path, or the engine's volume name
    target: str
    read_only: bool
    # z, Z, propagation, nocopy; size=BYTES and mode=OCTAL for a tmpfs
    options: tuple[str, ...] = ()
    # a bind whose missing source the engine creates as a folder (compose's short syntax)
    create_host_path: bool = False


@dataclass(frozen=True)
class Endpoint:
    """The container on one network beyond its first: connected before the start."""

    network: str  # the engine's network name
    aliases: tuple[str, ...]
    ipv4_address: str | None = None
    ipv6_address: str | None = None


@dataclass(frozen=True)
class FileCopy:
    """A secret or config with no file on the host (from `environment` or
    `content`): written into the container after the create, before the start."""

    target: str
    content: str
    mode: int = 0o444
    uid: str | None = None
    gid: str | None = None


@dataclass(frozen=True)
class Network:
    """A network the project uses, as the engine should have it."""

    key: str  # its name in the file ("default": the project network)
    name: str  # the engine's name
    external: bool = False
    driver: str | None = None
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    driver_opts: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    ipam_driver: str | None = None
    subnets: tuple[tuple[str, str | None, str | None], ...] = ()  # (subnet, gateway, ip_range)


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
    hostname: str | None = None
    # the first network's static addresses; the other networks, connected before the start
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    networks: tuple[Endpoint, ...] = ()
    files: tuple[FileCopy, ...] = ()
    tmpfs: tuple[tuple[str, str], ...] = ()  # (container path, options)
    expose: tuple[str, ...] = ()  # "PORT/PROTOCOL"
    shm_size: int | None = None
    ulimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard)
    security_opt: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    mem_limit: int | None = None
    mem_reservation: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    extra_hosts: tuple[str, ...] = ()  # "HOST:IP"
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    read_only: bool = False


def config_hash(spec: ContainerSpec) -> str:
    """sha256 of the canonical JSON of the resolved spec; the image id is part
    of it, so a rebuilt image recreates the container."""
    data = asdict(spec)
    for key in _LATE_FIELDS:
        if not data[key]:
            del data[key]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# fields added after containers were made count only when set: an upgrade does not recreate them all
_LATE_FIELDS = ("extra_hosts", "dns", "dns_search", "sysctls", "read_only")


def engine_policy(policy: str) -> tuple[str, int] | None:
    """A service's `restart:` as the engine's RestartPolicy (name, maximum
    retries; 0: no limit), or None for `no`."""
    if policy in ("", "no"):
        return None
    name, _, count = policy.partition(":")
    return name, int(count or 0)


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


def image_tag(project_name: str, service: str, svc: Service) -> str:
    """The image a service runs: its `image`, else the one devrun builds for it."""
    return svc.image or f"{project_name}-{service}"


def volume_name(project: Project, project_name: str, volume: str) -> str:
    spec = project.volumes.get(volume)
    return spec.name if spec and spec.name else f"{project_name}_{volume}"


def network_name(project_name: str) -> str:
    return f"{project_name}_default"


def container_name(project_name: str, service: str, svc: Service) -> str:
    return svc.container_name or f"{project_name}-{service}"


def attached_networks(svc: Service) -> dict[str, NetworkAttach]:
    """The networks a service joins, first one first (highest priority, then by
    name, as compose orders them): none with network_mode host or none."""
    if svc.network_mode not in (None, "bridge"):
        return {}
    nets = svc.networks or {"default": NetworkAttach()}
    order = sorted(nets, key=lambda k: (-(nets[k].priority or 0), k))
    return {k: nets[k] for k in order}


def network_engine_name(project: Project, project_name: str, key: str) -> str:
    spec = project.networks.get(key)
    if spec and spec.name:
        return spec.name
    if spec and spec.external:
        return key
    return f"{project_name}_{key}"


def project_networks(project: Project, project_name: str, services: list[str] | None = None) -> list[Network]:
    """The networks `services` (default: all) join, as the engine should have them."""
    keys: list[str] = []
    for name in services if services is not None else list(project.services):
        for key in attached_networks(project.services[name]):
            if key not in keys:
                keys.append(key)
    out = []
    for key in keys:
        spec = project.networks.get(key) or NetworkSpec()
        ipam = spec.ipam or {}
        pools = tuple(
            (str(c["subnet"]), c.get("gateway"), c.get("ip_range"))
            for c in ipam.get("config") or []
            if isinstance(c, dict) and c.get("subnet")
        )
        out.append(
            Network(
                key=key,
                name=network_engine_name(project, project_name, key),
                external=spec.external,
                driver=spec.driver,
                internal=spec.internal,
                attachable=spec.attachable,
                enable_ipv6=spec.enable_ipv6,
                driver_opts=tuple(sorted((str(k), str(v)) for k, v in spec.driver_opts.items())),
                labels=tuple(sorted((k, v or "") for k, v in spec.labels.items())),
                ipam_driver=ipam.get("driver"),
                subnets=pools,
            )
        )
    return out


def _mounts(project: Project, project_name: str, svc: Service) -> tuple[Mount, ...]:
    """The service's volumes, then its file-backed secrets and configs (read-only binds)."""
    mounts = [
        Mount(
            m.type,
            volume_name(project, project_name, m.source) if m.type == "volume" and m.source else m.source,
            m.target,
            m.read_only,
            tuple(m.options),
            m.type == "bind" and m.create_host_path,
        )
        for m in svc.volumes
    ]
    for kind in ("secrets", "configs"):
        declared = getattr(project, kind)
        for ref in getattr(svc, kind):
            src = declared.get(ref.source)
            if src is not None and src.file and not src.external and ref.target:
                mounts.append(Mount("bind", src.file, ref.target, True))
    return tuple(mounts)


def _file_copies(project: Project, svc: Service) -> tuple[FileCopy, ...]:
    """Secrets and configs from `environment` or `content`, as compose writes them in."""
    out = []
    for kind in ("secrets", "configs"):
        declared = getattr(project, kind)
        for ref in getattr(svc, kind):
            src = declared.get(ref.source)
            if src is None or src.file or src.external or not ref.target:
                continue
            content = src.content if src.content is not None else (src.env_value or "")
            mode = ref.mode if ref.mode is not None else 0o444
            out.append(FileCopy(ref.target, content, mode, ref.uid, ref.gid))
    return tuple(out)


def _expose(values: list[str]) -> tuple[str, ...]:
    """'8080', '9000-9001/udp' -> one 'PORT/PROTOCOL' per port."""
    out: list[str] = []
    for value in values:
        port, _, proto = value.partition("/")
        lo, _, hi = port.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out += [f"{p}/{proto or 'tcp'}" for p in range(int(lo), int(hi or lo) + 1)]
    return tuple(out)


def _tmpfs(entries: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((path, opts) for path, _, opts in (e.partition(":") for e in entries))


def health_of(svc: Service) -> Health | None:
    """The healthcheck devrun sends; None with no test (disabled, or the image's own),
    as engine_wire prefixes CMD."""
    hc = svc.healthcheck
    if not hc or not hc.test or hc.disable:
        return None
    return Health(tuple(hc.test), hc.interval, hc.timeout, hc.retries, hc.start_period)


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
    name = container_name(project_name, service, svc)
    nets = attached_networks(svc)
    endpoints = [
        Endpoint(
            network_engine_name(project, project_name, key),
            # as compose: the container's name too (the engine resolves it anyway)
            tuple(dict.fromkeys((service, *attach.aliases, name))),
            attach.ipv4_address,
            attach.ipv6_address,
        )
        for key, attach in nets.items()
    ]
    first = endpoints[0] if endpoints else None
    # network_mode: service:X joins X's container by name (its ports and host name are X's)
    other = shared_network(svc)
    net_mode = (
        f"container:{container_name(project_name, other, project.services[other])}"
        if other
        else None
        if first
        else (svc.network_mode or "none")
    )
    return ContainerSpec(
        project=project_name,
        service=service,
        name=name,
        image_ref=image.ref,
        image_id=image.id,
        entrypoint=entrypoint,
        command=command,
        env=tuple(sorted((k, v) for k, v in svc.environment.items() if v is not None)),
        ports=() if other else tuple(Port(p.target, p.published, p.host_ip, p.protocol) for p in svc.ports),
        mounts=_mounts(project, project_name, svc),
        user_labels=tuple(sorted((k, v or "") for k, v in svc.labels.items())),
        init=svc.init,
        stop_signal=svc.stop_signal,
        stop_timeout=svc.stop_grace_period,
        network=first.network if first else None,
        network_mode=net_mode,
        aliases=first.aliases if first else (),
        healthcheck=health_of(svc),
        restart_mode=mode,
        restart_policy=svc.restart,
        working_dir=svc.working_dir,
        user=svc.user,
        privileged=svc.privileged,
        cap_add=tuple(svc.cap_add),
        tty=svc.tty,
        app_argv=argv,
        hostname=None if other else svc.hostname,
        ipv4_address=first.ipv4_address if first else None,
        ipv6_address=first.ipv6_address if first else None,
        networks=tuple(endpoints[1:]),
        files=_file_copies(project, svc),
        tmpfs=_tmpfs(svc.tmpfs),
        expose=() if other else _expose(svc.expose),
        shm_size=svc.shm_size,
        ulimits=tuple(sorted((k, u.soft, u.hard) for k, u in svc.ulimits.items())),
        security_opt=tuple(svc.security_opt),
        devices=tuple(svc.devices),
        mem_limit=svc.mem_limit,
        mem_reservation=svc.mem_reservation,
        cpus=svc.cpus,
        pids_limit=svc.pids_limit,
        extra_hosts=tuple(svc.extra_hosts),
        dns=tuple(svc.dns),
        dns_search=tuple(svc.dns_search),
        sysctls=tuple(sorted((k, v or "") for k, v in svc.sysctls.items())),
        read_only=svc.read_only,
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
class PublishedPort:
    """A container port published on the host, as the engine bound it."""

    target: int
    protocol: str  # tcp | udp | sctp
    host_ip: str
    host_port: int


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
    image: str = ""  # the reference it was created from
    health: str | None = None  # starting | healthy | unhealthy; None without a healthcheck
    health_output: str = ""  # the last line the healthcheck printed
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    ports: tuple[PublishedPort, ...] = ()
    addresses: tuple[str, ...] = ()  # its IP address on each network, in the engine's order
    created: str = ""
    restart_count: int = 0  # the engine's own restarts (a restart policy), not devrun's


@dataclass(frozen=True)
class PathStat:
    """A path in a container, as the archive API states it."""

    name: str
    size: int
    mode: int  # Go's FileMode: 1<<31 marks a directory

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & (1 << 31))


@dataclass(frozen=True)
class ImageDetails:
    """An image as `images` lists it."""

    id: str
    tags: tuple[str, ...]
    size: int


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


def start_order(project: Project, only: list[str] | None = None) -> list[str]:
    """Services in dependency order; with `only`, those plus what they need."""
    wanted: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in project.services[name].depends_on:
            visit(dep)
        wanted.append(name)

    for name in only or sorted(project.services):
        visit(name)
    return wanted
