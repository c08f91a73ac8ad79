"""The devrun.yaml model. Short compose-style forms are normalised to one long
form by before-validators, so error locations never contain union branches and
the rest of devrun sees a single shape."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from devrun.config.values import (  # noqa: F401 - parse_duration and MAX_DURATION are imported from here
    MAX_DURATION,
    _as_list,
    _env_map,
    _scalar_text,
    _shell_command,
    _split_command,
    normalise_signal,
    parse_bytes,
    parse_duration,
)

Action = Literal["restart", "signal", "exec", "sync", "sync+restart", "sync+exec", "rebuild"]

Duration = Annotated[float, BeforeValidator(parse_duration)]
SignalName = Annotated[str, BeforeValidator(normalise_signal)]
Command = Annotated[list[str], BeforeValidator(_split_command)]
StrList = Annotated[list[str], BeforeValidator(_as_list)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BuildSpec(Strict):
    context: str = "."
    dockerfile: str = "Dockerfile"
    # a name without a value takes it from the shell, as compose does
    args: Annotated[dict[str, str | None], BeforeValidator(_env_map)] = Field(default_factory=dict)
    target: str | None = None
    # the Dockerfile itself, written in the config (compose's build.dockerfile_inline)
    dockerfile_inline: str | None = None


def _build(value: Any) -> Any:
    if isinstance(value, str):
        return {"context": value}
    return value


_PORT_SHORT = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9a-fA-F:]+\]|[0-9.]+|[a-zA-Z0-9.-]+)?:)?(?P<published>\d+)?:)?(?P<target>\d+)(?:/(?P<proto>tcp|udp|sctp))?$"
)


class PortSpec(Strict):
    target: int = Field(ge=1, le=65535)
    published: int | None = Field(default=None, ge=1, le=65535)
    host_ip: str = "127.0.0.1"
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"


def _port(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return {"target": value}
    if isinstance(value, str):
        m = _PORT_SHORT.match(value.strip())
        if not m:
            raise ValueError(
                "not a port; write 'HOST:CONTAINER' like '8080:80', "
                "'127.0.0.1:8080:80' or '8080:80/udp' (ranges are not supported)"
            )
        out: dict[str, Any] = {"target": int(m["target"])}
        if m["published"]:
            out["published"] = int(m["published"])
        if m["ip"]:
            out["host_ip"] = m["ip"].strip("[]")
        if m["proto"]:
            out["protocol"] = m["proto"]
        return out
    return value


# what compose's short mount syntax allows after the target; devrun applies ro/rw
MOUNT_OPTIONS = (
    "ro", "rw", "z", "Z", "cached", "delegated", "consistent", "nocopy",
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
)  # fmt: skip


class MountSpec(Strict):
    type: Literal["bind", "volume", "tmpfs"]
    source: str | None = None
    target: str
    read_only: bool = False
    # z, Z (SELinux labels), nocopy, propagation; size=BYTES, mode=OCTAL for a tmpfs;
    # cached, delegated, consistent are read and mean nothing on Linux
    options: list[str] = Field(default_factory=list)
    # a missing bind source is created as a folder (compose: the short syntax, or bind.create_host_path)
    create_host_path: bool = True


def _mount(value: Any) -> Any:
    if isinstance(value, str):
        parts = value.split(":")
        mode = None
        if len(parts) == 3:
            src, dst, mode = parts
        elif len(parts) == 2:
            src, dst = parts
        elif len(parts) == 1:
            src, dst = None, parts[0]
        else:
            raise ValueError("not a mount; write 'SOURCE:TARGET[:ro]' like './src:/app/src:ro'")
        options = mode.split(",") if mode else []
        wrong = [o for o in options if o not in MOUNT_OPTIONS]
        if wrong:
            raise ValueError("a mount option must be 'ro' or 'rw' (or z, Z, cached, nocopy, propagation)")
        if not dst.startswith("/"):
            raise ValueError("the mount target must be an absolute container path")
        kind = "bind" if src and (src.startswith((".", "/", "~"))) else "volume"
        out: dict[str, Any] = {"type": kind, "target": dst, "read_only": "ro" in options}
        out["options"] = [o for o in options if o not in ("ro", "rw")]
        if src:
            out["source"] = src
        return out
    return value


class DependsOn(Strict):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    # compose: restart this service when the dependency restarts; a missing optional one is fine
    restart: bool = False
    required: bool = True


def _depends(value: Any) -> Any:
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError("depends_on entries are service names")
            out[item] = {}
        return out
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


class Ulimit(Strict):
    soft: int
    hard: int


def _ulimits(value: Any) -> Any:
    # `nofile: 1024` sets both limits
    if isinstance(value, dict):
        return {k: ({"soft": v, "hard": v} if isinstance(v, int) else v) for k, v in value.items()}
    return value


def _device(value: Any) -> Any:
    if isinstance(value, dict) and "source" in value:
        target = value.get("target") or value["source"]
        return ":".join(str(p) for p in (value["source"], target, value.get("permissions") or "rwm"))
    return value


Bytes = Annotated[int | None, BeforeValidator(parse_bytes)]


class Healthcheck(Strict):
    # None: disabled, or (`disable: false` alone) the image's own HEALTHCHECK
    test: Annotated[Command, Field(min_length=1)] | None = None
    interval: Duration = 1.0
    timeout: Duration = 5.0
    retries: int = Field(default=30, ge=1)
    start_period: Duration = 0.0
    start_interval: Duration | None = None
    disable: bool = False

    @model_validator(mode="before")
    @classmethod
    def _compose_test(cls, data: Any) -> Any:
        # compose's test: ["CMD-SHELL", "..."] or ["CMD", ...]: keep it familiar; ["NONE"] disables
        if isinstance(data, dict) and data.get("test") in (["NONE"], "NONE"):
            data = {k: v for k, v in data.items() if k != "test"} | {"disable": True}
        if isinstance(data, dict) and isinstance(data.get("test"), list) and data["test"]:
            head = data["test"][0]
            if head == "CMD-SHELL":
                data = {**data, "test": ["/bin/sh", "-c", " ".join(map(str, data["test"][1:]))]}
            elif head == "CMD":
                data = {**data, "test": data["test"][1:]}
        elif isinstance(data, dict) and isinstance(data.get("test"), str):
            data = {**data, "test": ["/bin/sh", "-c", data["test"]]}
        return data

    @model_validator(mode="after")
    def _needs_test(self) -> Healthcheck:
        # `disable: false` alone keeps the image's own HEALTHCHECK, as in compose
        if self.test is None and "disable" not in self.model_fields_set:
            raise ValueError("`test` is required (or `disable: true`)")
        return self


class WatchRule(Strict):
    path: StrList = Field(min_length=1)
    action: Action
    ignore: StrList = Field(default_factory=list)
    signal: SignalName | None = None
    exec: Annotated[list[str], BeforeValidator(_shell_command)] | None = None
    target: str | None = None
    debounce: Duration | None = None
    initial_sync: bool = True


class EnvFile(Strict):
    path: str
    # a missing optional file is skipped, as compose does
    required: bool = True
    format: Literal["raw"] | None = None


def _env_files(value: Any) -> Any:
    items = _as_list(value)
    if isinstance(items, list):
        return [{"path": v} if isinstance(v, str) else v for v in items]
    return items


class NetworkAttach(Strict):
    aliases: StrList = Field(default_factory=list)
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    priority: int | None = None


def _networks(value: Any) -> Any:
    if isinstance(value, list):
        return {str(v): {} for v in value}
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


class FileRef(Strict):
    """A secret or config given to a service, mounted at `target`."""

    source: str
    target: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


def _file_refs(value: Any) -> Any:
    if isinstance(value, list):
        return [{"source": v} if isinstance(v, str) else v for v in value]
    return value


def _extra_hosts(value: Any) -> Any:
    """{host: ip}, {host: [ip, ...]}, ["host:ip"] or ["host=ip"] -> ["host:ip", ...] (the engine's form)."""
    if isinstance(value, dict):
        return [f"{h}:{ip}" for h, ips in value.items() for ip in (ips if isinstance(ips, list) else [ips])]
    if isinstance(value, list):
        out = []
        for item in value:
            if not isinstance(item, str) or not ({"=", ":"} & set(item)):
                raise ValueError("extra_hosts entries are 'HOST:IP' or 'HOST=IP'")
            host, sep, ip = item.partition("=")
            out.append(f"{host}:{ip}" if sep else item)
        return out
    return value


class Hook(Strict):
    """A post_start or pre_stop hook: a command run in the container (compose's ServiceHook)."""

    command: Annotated[Command, Field(min_length=1)]
    user: Annotated[str | None, BeforeValidator(_scalar_text)] = None
    privileged: bool = False
    working_dir: str | None = None
    environment: Annotated[dict[str, str | None], BeforeValidator(_env_map)] = Field(default_factory=dict)


def _restart_policy(value: Any) -> Any:
    # YAML 1.1 reads a bare `no` as false
    if value is False:
        return "no"
    return value


RESTART_POLICY = re.compile(r"no|always|unless-stopped|on-failure(:\d+)?")


def _check_restart(value: str) -> str:
    if not RESTART_POLICY.fullmatch(value):
        raise ValueError("restart is no, always, unless-stopped, on-failure or on-failure:N")
    return value


def _network_mode(value: str) -> str:
    if value in ("bridge", "host", "none") or (value.startswith("service:") and value[8:]):
        return value
    raise ValueError("network_mode is bridge, host, none or service:NAME (another service's network)")


def shared_network(svc: Service) -> str | None:
    """The service whose network `svc` shares (network_mode: service:X), or None."""
    mode = svc.network_mode or ""
    return mode.removeprefix("service:") if mode.startswith("service:") else None


class Service(Strict):
    image: str | None = None
    build: Annotated[BuildSpec, BeforeValidator(_build)] | None = None
    command: Command | None = None
    entrypoint: Command | None = None
    environment: Annotated[dict[str, str | None], BeforeValidator(_env_map)] = Field(default_factory=dict)
    env_file: Annotated[list[EnvFile], BeforeValidator(_env_files)] = Field(default_factory=list)
    ports: list[Annotated[PortSpec, BeforeValidator(_port)]] = Field(default_factory=list)
    volumes: list[Annotated[MountSpec, BeforeValidator(_mount)]] = Field(default_factory=list)
    working_dir: str | None = None
    user: Annotated[str | None, BeforeValidator(_scalar_text)] = None
    init: bool = True
    stop_signal: SignalName = "SIGTERM"
    stop_grace_period: Duration = 10.0
    depends_on: Annotated[dict[str, DependsOn], BeforeValidator(_depends)] = Field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    # also the engine's own restart policy, so it holds after `up -d` (as compose sets it)
    restart: Annotated[str, BeforeValidator(_restart_policy), AfterValidator(_check_restart)] = "no"
    # how a `restart` action restarts: the main process inside the running
    # container (fast, keeps network and logs) or the whole container
    restart_mode: Literal["auto", "process", "container"] = "auto"
    watch: list[WatchRule] = Field(default_factory=list)
    privileged: bool = False
    cap_add: list[str] = Field(default_factory=list)
    network_mode: Annotated[str, AfterValidator(_network_mode)] | None = None
    labels: Annotated[dict[str, str | None], BeforeValidator(_env_map)] = Field(default_factory=dict)
    tty: bool = False
    # a service with profiles starts only when one is active or it is named
    profiles: StrList = Field(default_factory=list)
    container_name: str | None = None
    hostname: str | None = None
    networks: Annotated[dict[str, NetworkAttach], BeforeValidator(_networks)] = Field(default_factory=dict)
    secrets: Annotated[list[FileRef], BeforeValidator(_file_refs)] = Field(default_factory=list)
    configs: Annotated[list[FileRef], BeforeValidator(_file_refs)] = Field(default_factory=list)
    tmpfs: StrList = Field(default_factory=list)
    expose: list[Annotated[str, BeforeValidator(_scalar_text)]] = Field(default_factory=list)
    shm_size: Bytes = None
    ulimits: Annotated[dict[str, Ulimit], BeforeValidator(_ulimits)] = Field(default_factory=dict)
    security_opt: StrList = Field(default_factory=list)
    devices: list[Annotated[str, BeforeValidator(_device)]] = Field(default_factory=list)
    mem_limit: Bytes = None
    mem_reservation: Bytes = None
    cpus: float | None = Field(default=None, gt=0)
    pids_limit: int | None = None
    extra_hosts: Annotated[list[str], BeforeValidator(_extra_hosts)] = Field(default_factory=list)
    dns: StrList = Field(default_factory=list)
    dns_search: StrList = Field(default_factory=list)
    sysctls: Annotated[dict[str, str | None], BeforeValidator(_env_map)] = Field(default_factory=dict)
    read_only: bool = False
    # run in the container after each start devrun makes / before each stop
    post_start: list[Hook] = Field(default_factory=list)
    pre_stop: list[Hook] = Field(default_factory=list)


class VolumeSpec(Strict):
    name: str | None = None
    labels: Annotated[dict[str, str | None], BeforeValidator(_env_map)] = Field(default_factory=dict)


class NetworkSpec(Strict):
    name: str | None = None
    driver: str | None = None
    external: bool = False
    internal: bool = False
    attachable: bool = False
    labels: Annotated[dict[str, str | None], BeforeValidator(_env_map)] = Field(default_factory=dict)
    ipam: dict[str, Any] = Field(default_factory=dict)
    driver_opts: dict[str, Any] = Field(default_factory=dict)
    enable_ipv6: bool = False


class FileSource(Strict):
    """A top-level secret or config: from a file, an environment variable or inline."""

    name: str | None = None
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool = False
    # the value of `environment`, read when the config is loaded; never shown
    _env_value: str | None = PrivateAttr(default=None)

    @property
    def env_value(self) -> str | None:
        return self._env_value


def _named(value: Any) -> Any:
    return {k: (x or {}) for k, x in value.items()} if isinstance(value, dict) else value


class Project(Strict):
    name: str | None = None
    services: dict[str, Service] = Field(min_length=1)
    volumes: Annotated[
        dict[str, VolumeSpec],
        BeforeValidator(_named),
    ] = Field(default_factory=dict)
    networks: Annotated[dict[str, NetworkSpec], BeforeValidator(_named)] = Field(default_factory=dict)
    secrets: Annotated[dict[str, FileSource], BeforeValidator(_named)] = Field(default_factory=dict)
    configs: Annotated[dict[str, FileSource], BeforeValidator(_named)] = Field(default_factory=dict)
    # force polling for file systems without change events (network mounts, WSL /mnt)
    poll: bool = False
    # project folders on an engine that does not see them: bind-mounted, synced, or decided by a check
    mounts: Literal["bind", "sync", "auto"] = "auto"
    # opt-ins for what devrun refuses by default
    allow_host_paths: list[str] = Field(default_factory=list)
    allow_privileged: bool = False
    allow_host_network: bool = False
    allow_cap_add: bool = False

    @field_validator("services", mode="after")
    @classmethod
    def _shared_networks(cls, services: dict[str, Service]) -> dict[str, Service]:
        """network_mode: service:X starts after X and restarts with it, as compose
        adds it: an implicit depends_on X (service_started, restart: true)."""
        for name, svc in services.items():
            other = shared_network(svc)
            if other is None:
                continue
            if other not in services or other == name:
                raise ValueError(f"{name}: network_mode 'service:{other}' names no other service")
            svc.depends_on.setdefault(other, DependsOn(restart=True))
        return services

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # a compose file's unknown `x-devrun` key comes as `x-devrun.KEY`: refused, not dropped
            return {
                k: v
                for k, v in data.items()
                if not (isinstance(k, str) and k.startswith("x-") and not k.startswith("x-devrun."))
            }
        return data


SECRET_KEY = re.compile(r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth)")


def looks_secret(key: str) -> bool:
    return bool(SECRET_KEY.search(key))


def normalise_project_name(name: str) -> str:
    """Docker-safe project name: lowercase letters, digits, '-' and '_'."""
    out = re.sub(r"[^a-z0-9_-]", "", name.lower())
    out = out.lstrip("-_")
    return out or "default"
