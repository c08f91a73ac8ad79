"""The Docker engine: connecting, the project's networks, volumes and
containers, and their state. With engine/images.py and engine/streams.py (its
two other halves) and engine/calls.py (the error boundary), the only code
that talks to Docker; everything above it sees devrun.engine.protocol."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import Any

import docker
import docker.errors

from devrun import __version__, labels
from devrun.engine.calls import _raw, translate
from devrun.engine.images import Images, _load_shell_cache
from devrun.engine.select import EngineTarget
from devrun.engine.streams import Streams
from devrun.engine.wire import create_kwargs, files_archive
from devrun.errors import EngineError
from devrun.plan import (
    ContainerSpec,
    ContainerState,
    Network,
    Observed,
    PublishedPort,
)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_PORT_TAKEN = re.compile(
    r"(?:Bind for |listen tcp4? |listen udp4? )?([0-9.:\[\]a-f]*?):(\d+)(?: failed)?: (?:port is already allocated|bind: address already in use)"
)
_NS = 1_000_000_000
# what the engine names a volume nobody named (`volumes: [/data]`, an image's VOLUME)
_ANONYMOUS_VOLUME = re.compile(r"[0-9a-f]{64}")


# ---- docker-py's private API ---------------------------------------------------
# The only calls into APIClient internals (docker-py 7), each for what its public
# API cannot do:
# - container logs with stdout and stderr told apart (APIClient.logs merges them);
# - an archive PUT with copyUIDGID (APIClient.put_archive takes no query parameters);
# - a path's stat without its content (APIClient.get_archive starts the whole tar);
# - no read timeout on a stream that may stay quiet for hours (logs -f, attach, exec).


class Engine(Images, Streams):
    """The Docker engine (implements devrun.engine.protocol.Engine)."""

    def __init__(self, client: docker.DockerClient, where: str):
        self.client = client
        self.api = client.api
        self.where = where
        self._shell_cache: dict[str, bool] = _load_shell_cache()
        self._lock = threading.Lock()
        self.target: EngineTarget | None = None  # how it was reached (connect)
        self.compress_archives = False  # big archives go gzip'd (a network link: connect)

    @classmethod
    def connect(cls, timeout: float = 60, context: str | None = None) -> Engine:
        """The engine the docker CLI would use (--context, DOCKER_HOST,
        DOCKER_CONTEXT, `docker context use`, the default socket), over one
        client: over ssh one paramiko connection serves every call of the run.
        A failure is one line naming the host and the fix; nothing is created."""
        from devrun.engine.select import context_flag, select_engine

        target = select_engine(context or context_flag())
        engine = cls(target.client(timeout, ping=True), target.url)
        engine.target = target
        engine.compress_archives = target.across_network()
        return engine

    def sees_host_files(self, folder) -> bool:
        """Whether this engine's containers see `folder` of this machine through a
        bind mount (a check, cached per engine and folder: engine/select.py)."""
        from devrun.engine.select import sees_host_files

        if self.target is not None and self.target.source == "default" and self.target.transport != "tcp":
            return True  # the platform's own socket, nothing chosen: this machine's engine (no probe)
        return sees_host_files(self.client, folder)

    def versions(self) -> tuple[str, str]:
        """(engine version, API version), e.g. ('20.10.24', '1.41')."""
        with translate("engine version"):
            data = self.client.version()
        return str(data.get("Version", "?")), str(data.get("ApiVersion", "?"))

    # ---- images ---------------------------------------------------------------

    # ---- networks and volumes -------------------------------------------------

    def _owned(self, kind: str, name: str, attrs_labels: dict[str, str] | None, project: str) -> None:
        owner = (attrs_labels or {}).get(labels.PROJECT)
        if owner != project:
            whose = f"project {owner}" if owner else "something other than devrun"
            raise EngineError(
                f"a {kind} named {name} already exists and belongs to {whose}; "
                f"remove or rename it (docker {kind} rm {name}), or pick another project name with -p"
            )

    def find_clashes(
        self, project: str, containers: list[str], networks: list[str], volumes: list[str]
    ) -> list[str]:
        """Same-named resources that are not ours: each one an error line."""
        out: list[str] = []
        checks = (
            ("container", containers, self.api.inspect_container),
            ("network", networks, self.api.inspect_network),
            ("volume", volumes, self.api.inspect_volume),
        )
        for kind, names, inspect in checks:
            for name in names:
                with translate(f"{kind} {name}"):
                    try:
                        data = inspect(name)
                    except docker.errors.NotFound:
                        continue
                found = (
                    (data.get("Config") or {}).get("Labels") if kind == "container" else data.get("Labels")
                )
                try:
                    self._owned(kind, name, found, project)
                except EngineError as e:
                    out.append(str(e))
        return out

    def ensure_network(self, project: str, name: str, spec: Network | None = None) -> str:
        """The project's network `name`, created as `spec` says when missing; an
        external one must exist already."""
        external = spec is not None and spec.external
        with translate(f"network {name}"):
            for net in self.api.networks(names=[name]):
                if net["Name"] == name:
                    if not external:
                        self._owned("network", name, net.get("Labels"), project)
                    return net["Id"]
            if spec is not None and external:
                raise EngineError(
                    f"network {name} is external (networks.{spec.key}: external: true) but does not exist; "
                    f"create it first (docker network create {name}) or drop `external`"
                )
            spec = spec or Network("default", name)
            ipam = None
            if spec.subnets or spec.ipam_driver:
                pools = [docker.types.IPAMPool(subnet=s, gateway=g, iprange=r) for s, g, r in spec.subnets]
                ipam = docker.types.IPAMConfig(driver=spec.ipam_driver or "default", pool_configs=pools)
            net = self.api.create_network(
                name,
                driver=spec.driver or "bridge",
                options=dict(spec.driver_opts) or None,
                ipam=ipam,
                internal=spec.internal,
                attachable=spec.attachable or None,
                enable_ipv6=spec.enable_ipv6 or None,
                labels={**dict(spec.labels), labels.PROJECT: project, labels.VERSION: __version__},
            )
            return net["Id"]

    def ensure_volume(self, project: str, name: str, volume: str) -> str:
        with translate(f"volume {name}"):
            try:
                data = self.api.inspect_volume(name)
                self._owned("volume", name, data.get("Labels"), project)
                return name
            except docker.errors.NotFound:
                self.api.create_volume(
                    name, labels={labels.PROJECT: project, labels.VOLUME: volume, labels.VERSION: __version__}
                )
                return name

    def remove_network(self, name: str) -> None:
        with translate(f"network {name}"):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_network(name)

    def project_volumes(self, project: str) -> list[str]:
        with translate("list volumes"):
            return [
                v["Name"]
                for v in (self.api.volumes(filters=labels.project_filter(project)).get("Volumes") or [])
            ]

    def remove_volume(self, name: str) -> None:
        with translate(f"volume {name}"):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_volume(name, force=True)

    def project_networks(self, project: str) -> list[str]:
        with translate("list networks"):
            return [n["Name"] for n in self.api.networks(filters=labels.project_filter(project))]

    # ---- containers -----------------------------------------------------------

    def project_containers(self, project: str) -> list[Observed]:
        with translate("list containers"):
            found = self.api.containers(all=True, filters=labels.project_filter(project))
        out = []
        for c in found:
            lab = c.get("Labels") or {}
            out.append(
                Observed(
                    id=c["Id"],
                    name=(c.get("Names") or ["/?"])[0].lstrip("/"),
                    service=lab.get(labels.SERVICE, ""),
                    state=c.get("State", ""),
                    config_hash=lab.get(labels.CONFIG_HASH, ""),
                    restart_mode=lab.get(labels.RESTART_MODE, "container"),
                )
            )
        return sorted(out, key=lambda o: o.service)

    def published_ports(self, project: str) -> set[tuple[int, str]]:
        """(host port, protocol) published by the project's running containers."""
        with translate("list containers"):
            found = self.api.containers(filters=labels.project_filter(project))
        return {
            (p["PublicPort"], p.get("Type", "tcp"))
            for c in found
            for p in c.get("Ports") or []
            if p.get("PublicPort")
        }

    def inspect(self, container_id: str) -> dict[str, Any]:
        """The engine's raw answer: for this module and the real-engine tests;
        everyone else reads state()."""
        with translate(f"container {container_id[:12]}"):
            return self.api.inspect_container(container_id)

    def create(self, spec: ContainerSpec, inherit: tuple[tuple[str, str], ...] = ()) -> str:
        """Create (not start) the container for `spec`; returns its id.
        `inherit`: (volume, path) anonymous volumes of the container it replaces;
        as in compose, only those at a path the new image or the spec still
        declares a volume go over (a `- /data` dropped from the config is not remounted)."""
        if inherit:
            with translate(f"image {spec.image_id[:19]}"):
                declared = set(
                    (self.api.inspect_image(spec.image_id).get("Config") or {}).get("Volumes") or {}
                )
            declared |= {m.target for m in spec.mounts if m.type == "volume" and not m.source}
            inherit = tuple((v, p) for v, p in inherit if p in declared)
        kwargs = create_kwargs(self.api, spec, inherit)
        with translate(say=lambda reason: f"service {spec.service}: cannot create container: {reason}"):
            try:
                cid = self.api.create_container(**kwargs)["Id"]
            except docker.errors.APIError as e:
                if e.status_code != 409:
                    raise
                clash = self.find_clashes(spec.project, [spec.name], [], [])
                raise EngineError(
                    clash[0] if clash else f"service {spec.service}: container {spec.name} already exists"
                ) from None
        self._complete(cid, spec)
        return cid

    def _complete(self, cid: str, spec: ContainerSpec) -> None:
        """What one create call cannot say: the container's other networks, and
        the secrets and configs written in. Failing, the container goes again."""
        try:
            for ep in spec.networks:
                with translate(f"service {spec.service}: join network {ep.network}"):
                    self.api.connect_container_to_network(
                        cid,
                        ep.network,
                        aliases=list(ep.aliases) or None,
                        ipv4_address=ep.ipv4_address,
                        ipv6_address=ep.ipv6_address,
                    )
            if spec.files:
                owners = any(f.uid or f.gid for f in spec.files)
                with translate(f"service {spec.service}: write secrets and configs"):
                    _raw(
                        self.api,
                        "put",
                        "/containers/{0}/archive",
                        cid,
                        params={"path": "/", **({"copyUIDGID": "true"} if owners else {})},
                        data=files_archive(spec.files),
                    )
        except BaseException:
            with contextlib.suppress(Exception):
                self.api.remove_container(cid, force=True, v=True)
            raise

    def _service_of(self, container_id: str) -> str:
        try:
            return (self.api.inspect_container(container_id)["Config"].get("Labels") or {}).get(
                labels.SERVICE, container_id[:12]
            )
        except Exception:  # noqa: BLE001 - only for wording an error
            return container_id[:12]

    def start(self, container_id: str) -> None:
        def cannot_start(reason: str) -> str:
            service = self._service_of(container_id)
            m = _PORT_TAKEN.search(reason)
            if m:
                return f"service {service}: host port {m.group(2)} is already in use; stop what uses it or change `ports:`"
            return f"service {service}: cannot start: {reason}"

        with translate(say=cannot_start):
            self.api.start(container_id)

    def stop(self, container_id: str, timeout: float) -> None:
        with translate(f"stop {container_id[:12]}"):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.stop(container_id, timeout=max(0, round(timeout)))

    def remove(self, container_id: str, *, volumes: bool = False) -> None:
        """Remove a container. Its anonymous volumes go only with volumes=True
        (`down -v`): a recreate hands them to the new container, as compose does."""
        anonymous: list[str] = []
        if volumes:
            # a volume handed over by a recreate is mounted by name, which the
            # engine's remove-with-volumes leaves behind: name each one
            with contextlib.suppress(EngineError):
                anonymous = [name for name, _path in self.state(container_id).anonymous_volumes]
        with translate(f"remove {container_id[:12]}"):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(container_id, force=True, v=volumes)
        for name in anonymous:
            with contextlib.suppress(EngineError):  # still used by another container: it stays
                self.remove_volume(name)

    def rename(self, container_id: str, name: str) -> None:
        with translate(f"rename {container_id[:12]}"):
            self.api.rename(container_id, name)

    def state(self, container_id: str) -> ContainerState:
        """The container's state as plain data (raises EngineError when it is gone)."""
        info = self.inspect(container_id)
        st = info.get("State") or {}
        cfg = info.get("Config") or {}
        lab = dict(cfg.get("Labels") or {})
        health = st.get("Health") or {}
        output = str(((health.get("Log") or [{}])[-1] or {}).get("Output") or "")
        return ContainerState(
            running=bool(st.get("Running")),
            paused=bool(st.get("Paused")),
            status=str(st.get("Status", "")),
            exit_code=st.get("ExitCode"),
            started_at=str(st.get("StartedAt", "")),
            restart_mode=lab.get(labels.RESTART_MODE, "container"),
            name=str(info.get("Name", "")).lstrip("/"),
            anonymous_volumes=tuple(
                (m["Name"], m["Destination"])
                for m in info.get("Mounts") or []
                if m.get("Type") == "volume" and _ANONYMOUS_VOLUME.fullmatch(m.get("Name") or "")
            ),
            mounts=tuple(m["Destination"] for m in info.get("Mounts") or [] if m.get("Destination"))
            + tuple((info.get("HostConfig") or {}).get("Tmpfs") or {}),
            image_id=str(info.get("Image", "")),
            image=str(cfg.get("Image") or ""),
            health=health.get("Status"),
            health_output=next(iter(output.strip().splitlines()[-1:]), ""),
            labels=lab,
            ports=tuple(
                PublishedPort(int(number), protocol, b.get("HostIp", ""), int(b["HostPort"]))
                for target, binds in sorted(((info.get("NetworkSettings") or {}).get("Ports") or {}).items())
                for number, _, protocol in [target.partition("/")]
                for b in binds or []
                if b.get("HostPort")
            ),
            addresses=tuple(
                n["IPAddress"]
                for n in ((info.get("NetworkSettings") or {}).get("Networks") or {}).values()
                if n.get("IPAddress")
            ),
            created=str(info.get("Created", "")),
            restart_count=int(info.get("RestartCount") or 0),
        )

    def restart(self, container_id: str, timeout: float) -> None:
        with translate(f"restart {container_id[:12]}"):
            self.api.restart(container_id, timeout=max(0, round(timeout)))

    def restart_process(self, container_id: str) -> None:
        """Process restart mode: the in-container supervisor restarts the app on USR2."""
        self.kill(container_id, "SIGUSR2")

    def kill(self, container_id: str, signal: str) -> None:
        with translate(f"signal {signal} to {container_id[:12]}"):
            self.api.kill(container_id, signal=signal)

    def start_count(self, container_id: str, created: float) -> int:
        """How often the container was started (and process-restarted) since it was
        created, from the engine's event history: devrun restarts containers itself
        and restarts apps inside them, so the engine's RestartCount stays 0."""
        with translate(f"events of {container_id[:12]}"):
            events = self.api.events(
                decode=True,
                since=created,
                until=time.time(),
                filters={"container": container_id, "type": "container"},
            )
            count = 0
            for raw in events:
                action = raw.get("Action", raw.get("status", ""))
                signal = raw.get("Actor", {}).get("Attributes", {}).get("signal")
                count += action == "start" or (
                    action == "kill" and signal == "12"
                )  # 12: USR2, the process restart
            return count

    # ---- the compose command surface: one-off containers, attached I/O, copies ----

    def pause(self, container_id: str, pause: bool = True) -> None:
        with translate(f"{'pause' if pause else 'unpause'} {container_id[:12]}"):
            (self.api.pause if pause else self.api.unpause)(container_id)
