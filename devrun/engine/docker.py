"""The only module that talks to Docker. Every engine failure leaves here as an
EngineError with a sentence meant for people (docker-py's errors.py habit:
one exception family, one boundary)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import docker
import docker.errors
import requests
import urllib3.exceptions

from devrun import __version__, labels
from devrun.config.model import BuildSpec
from devrun.engine.protocol import EngineEvent, Progress
from devrun.engine.tree import ChunkReader, TreeEntry, read_tree
from devrun.engine.wire import StreamLines, create_kwargs, files_archive, log_lines
from devrun.errors import EngineError
from devrun.plan import (
    ContainerSpec,
    ContainerState,
    ImageDetails,
    ImageInfo,
    Network,
    Observed,
    PathStat,
    PublishedPort,
)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
START_HINT = "start Docker (e.g. `sudo systemctl start docker`, or open Docker Desktop) or set DOCKER_HOST"
_PORT_TAKEN = re.compile(
    r"(?:Bind for |listen tcp4? |listen udp4? )?([0-9.:\[\]a-f]*?):(\d+)(?: failed)?: (?:port is already allocated|bind: address already in use)"
)
_NS = 1_000_000_000
# what the engine names a volume nobody named (`volumes: [/data]`, an image's VOLUME)
_ANONYMOUS_VOLUME = re.compile(r"[0-9a-f]{64}")


def _reason(e: Exception) -> str:
    if isinstance(e, docker.errors.APIError):
        return str(e.explanation or e)
    return str(e) or type(e).__name__


@contextlib.contextmanager
def translate(what: str = "", say: Callable[[str], str] | None = None) -> Iterator[None]:
    """The one translation of docker/requests failures: any inside the block
    leaves as an EngineError, worded `what: reason` (`what: not found (reason)`
    for a missing object), or as `say(reason)` where the sentence needs its own
    shape. A block that expects a failure (NotFound meaning "absent") catches
    that one inside and lets the rest come here."""
    try:
        yield
    except EngineError:
        raise
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as e:
        reason = _reason(e)
        if say is not None:
            raise EngineError(say(reason)) from None
        if isinstance(e, docker.errors.NotFound):
            raise EngineError(f"{what}: not found ({reason})") from None
        raise EngineError(f"{what}: {reason}") from None


# ---- docker-py's private API ---------------------------------------------------
# The only calls into APIClient internals (docker-py 7), each for what its public
# API cannot do:
# - container logs with stdout and stderr told apart (APIClient.logs merges them);
# - an archive PUT with copyUIDGID (APIClient.put_archive takes no query parameters);
# - a path's stat without its content (APIClient.get_archive starts the whole tar);
# - no read timeout on a stream that may stay quiet for hours (logs -f, attach, exec).


def _raw(
    api: Any,
    method: Literal["get", "put", "head"],
    path: str,
    container_id: str,
    *,
    untimed: bool = False,
    **kwargs: Any,
) -> Any:
    """One request to a container endpoint (`path` holds `{0}` for the id);
    a failure raises docker's own error, as the public methods do. `untimed`:
    a streamed answer that may stay quiet for hours."""
    send = {"get": api._get, "put": api._put, "head": api.head}[method]
    res = send(api._url(path, container_id), **kwargs)
    api._raise_for_status(res)
    if untimed:
        _untimed(api, api._get_raw_response_socket(res))
    return res


def _untimed(api: Any, sock: Any) -> Any:
    """The socket under a streamed response or hijacked connection, with
    docker-py's read timeout lifted from it."""
    api._disable_socket_timeout(sock)
    return getattr(sock, "_sock", sock)


def _shell_cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "devrun", "image-shell.json")


def _load_shell_cache() -> dict[str, bool]:
    try:
        with open(_shell_cache_path()) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return (
        {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, bool)}
        if isinstance(data, dict)
        else {}
    )


def _save_shell_cache(cache: dict[str, bool]) -> None:
    # best effort: a read-only home only costs the probe again next time
    path = _shell_cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(dict(list(cache.items())[-500:]), f)
        os.replace(tmp, path)
    except OSError:
        pass


class EventStream:
    """Engine events of one project's containers; close() ends the iteration."""

    def __init__(self, stream: Any):
        self._stream = stream

    def __iter__(self) -> Iterator[EngineEvent]:
        try:
            for raw in self._stream:
                attrs = raw.get("Actor", {}).get("Attributes", {})
                code = attrs.get("exitCode")
                yield EngineEvent(
                    action=raw.get("Action", raw.get("status", "")),
                    container_id=raw.get("id", ""),
                    service=attrs.get(labels.SERVICE, ""),
                    time=raw.get("timeNano", 0) / _NS or float(raw.get("time", 0)),
                    exit_code=int(code) if code is not None else None,
                    signal=int(attrs["signal"]) if str(attrs.get("signal", "")).isdigit() else None,
                )
        except (
            requests.exceptions.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            AttributeError,
            ValueError,
        ):
            return  # closed, or the engine went away

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


class Engine:
    """The Docker engine (implements devrun.engine.protocol.Engine)."""

    def __init__(self, client: docker.DockerClient, where: str):
        self.client = client
        self.api = client.api
        self.where = where
        self._shell_cache: dict[str, bool] = _load_shell_cache()
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, timeout: float = 60) -> Engine:
        where = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET

        def unreachable(reason: str) -> str:
            short = reason.split("(")[0].strip().rstrip(":") or reason
            return f"cannot reach the Docker engine at {where} ({short}); {START_HINT}"

        with translate(say=unreachable):
            client = (
                docker.DockerClient(base_url=where, timeout=int(timeout))
                if "DOCKER_HOST" not in os.environ
                else docker.from_env(timeout=int(timeout))
            )
            client.ping()
        return cls(client, where)

    def versions(self) -> tuple[str, str]:
        """(engine version, API version), e.g. ('20.10.24', '1.41')."""
        with translate("engine version"):
            data = self.client.version()
        return str(data.get("Version", "?")), str(data.get("ApiVersion", "?"))

    def has_image(self, ref: str) -> bool:
        """Whether the image is present locally (no container created, unlike image_info)."""
        with translate(f"image {ref}"):
            try:
                self.api.inspect_image(ref)
            except docker.errors.NotFound:
                return False
        return True

    # ---- images ---------------------------------------------------------------

    def image_info(self, ref: str) -> ImageInfo | None:
        """The image's id and default argv, or None when it is not present."""
        with translate(f"image {ref}"):
            try:
                data = self.api.inspect_image(ref)
            except docker.errors.NotFound:  # ImageNotFound too
                return None
        cfg = data.get("Config") or {}
        image_id = data["Id"]
        return ImageInfo(
            ref=ref,
            id=image_id,
            entrypoint=tuple(cfg.get("Entrypoint") or ()),
            cmd=tuple(cfg.get("Cmd") or ()),
            has_shell=self.image_has_shell(image_id),
        )

    def image_has_shell(self, image_id: str) -> bool:
        """Whether /bin/sh exists in the image: read it from a created (never
        started) container (~75 ms). An image id names immutable content, so the
        answer is kept on disk and every later `up` skips the probe."""
        with self._lock:
            if image_id in self._shell_cache:
                return self._shell_cache[image_id]
        found = False
        with translate(f"image {image_id[:19]}"):
            c = self.api.create_container(
                image_id,
                command=["true"],
                entrypoint=[],
                labels={labels.VERSION: __version__},
                network_disabled=True,
            )
            try:
                stream, _stat = self.api.get_archive(c["Id"], "/bin/sh")
                for _ in stream:
                    pass
                found = True
            except docker.errors.NotFound:
                found = False
            finally:
                self.api.remove_container(c["Id"], force=True)
        with self._lock:
            self._shell_cache[image_id] = found
            _save_shell_cache(self._shell_cache)
        return found

    def pull(self, ref: str, progress: Progress) -> ImageInfo:
        repo, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")

        def unpullable(reason: str) -> str:
            return (
                f"image {ref} is not on this machine and cannot be pulled ({reason}); "
                "check the name, your network, or build/load it locally"
            )

        with translate(say=unpullable):
            for item in self.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
                if "error" in item:
                    raise EngineError(f"cannot pull image {ref}: {item['error']}")
                status = item.get("status", "")
                if status and "id" not in item:
                    progress(status)
        info = self.image_info(ref)
        if info is None:
            raise EngineError(f"image {ref}: pulled but not found afterwards")
        return info

    def build(self, service: str, spec: BuildSpec, tag: str, progress: Progress) -> ImageInfo:
        """docker build with streamed output; a failure names the failing step
        and ends with the tail of its log."""
        log: list[str] = []
        step = ""
        with translate(say=lambda reason: f"service {service}: build failed: {reason}"):
            stream = self.api.build(
                path=spec.context,
                dockerfile=spec.dockerfile,
                tag=tag,
                buildargs=spec.args or None,
                target=spec.target,
                rm=True,
                forcerm=True,
                decode=True,
                labels={labels.VERSION: __version__},
            )
            for item in stream:
                if "error" in item:
                    tail = "\n".join(f"  {line}" for line in log[-10:])
                    where = f" at {step}" if step else ""
                    msg = item["error"].strip()
                    raise EngineError(
                        f"service {service}: build failed{where}: {msg}" + (f"\n{tail}" if tail else "")
                    )
                text = item.get("stream") or item.get("status") or ""
                for line in text.splitlines():
                    if not line.strip():
                        continue
                    if line.startswith("Step "):
                        step = line.strip()
                    elif not line.lstrip().startswith(("--->", "Removing intermediate container")):
                        log.append(line.rstrip())  # the step's own output, for the failure tail
                    progress(line.rstrip())
        info = self.image_info(tag)
        if info is None:
            raise EngineError(f"service {service}: build finished but image {tag} is missing")
        return info

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

    def tree(self, container_id: str, target: str) -> dict[str, TreeEntry]:
        """The container's files under `target` (running or stopped: the archive
        API needs no shell), keyed by container path, with content digests."""
        try:
            with translate(f"read {target} in {container_id[:12]}"):
                try:
                    chunks, _stat = self.api.get_archive(container_id, target)
                except docker.errors.NotFound:
                    return {}
                return read_tree(ChunkReader(chunks), target)
        except tarfile.TarError as e:
            raise EngineError(
                f"read {target} in {container_id[:12]}: {e} (did it change meanwhile?)"
            ) from None

    def restart(self, container_id: str, timeout: float) -> None:
        with translate(f"restart {container_id[:12]}"):
            self.api.restart(container_id, timeout=max(0, round(timeout)))

    def restart_process(self, container_id: str) -> None:
        """Process restart mode: the in-container supervisor restarts the app on USR2."""
        self.kill(container_id, "SIGUSR2")

    def kill(self, container_id: str, signal: str) -> None:
        with translate(f"signal {signal} to {container_id[:12]}"):
            self.api.kill(container_id, signal=signal)

    def exec(
        self,
        container_id: str,
        argv: list[str],
        on_line: Callable[[str, str], None],
        *,
        user: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
    ) -> int:
        """Run argv in the container, streaming (stream, line) to on_line; returns its exit code."""
        with translate(f"exec in {container_id[:12]}"):
            ex = self.api.exec_create(container_id, argv, user=user or "", workdir=workdir, environment=env)
            out = self.api.exec_start(ex["Id"], stream=True, demux=True)
            streams = {"stdout": StreamLines(), "stderr": StreamLines()}
            for chunk in out:
                for name, data in zip(("stdout", "stderr"), chunk, strict=True):
                    if data:
                        for line in streams[name].feed(data):
                            on_line(name, line)
            for name, lines in streams.items():
                for line in lines.finish():
                    on_line(name, line)
            return int(self.api.exec_inspect(ex["Id"]).get("ExitCode") or 0)

    def put_archive(self, container_id: str, path: str, data: bytes) -> None:
        with translate(f"copy into {container_id[:12]}:{path}"):
            self.api.put_archive(container_id, path, data)

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

    def events(self, project: str, since: float | None = None) -> EventStream:
        with translate("engine events"):
            stream = self.api.events(
                decode=True, since=since, filters={**labels.project_filter(project), "type": "container"}
            )
        return EventStream(stream)

    def logs(
        self,
        container_id: str,
        *,
        follow: bool,
        tail: int | str = "all",
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> Iterator[tuple[str, str]]:
        """(stream, line) pairs; 'stdout'/'stderr' ('stdout' for TTY containers).
        With timestamps, each line starts with the engine's RFC 3339 time and a space."""
        params: dict[str, Any] = {
            "stdout": 1,
            "stderr": 1,
            "follow": int(follow),
            "tail": str(tail),
            "timestamps": int(timestamps),
        }
        if since is not None:
            params["since"] = f"{since:.9f}"
        if until is not None:
            params["until"] = f"{until:.9f}"
        with translate(f"logs of {container_id[:12]}"):
            try:
                tty = bool(self.api.inspect_container(container_id)["Config"].get("Tty"))
                res = _raw(
                    self.api,
                    "get",
                    "/containers/{0}/logs",
                    container_id,
                    untimed=True,
                    params=params,
                    stream=True,
                )
            except docker.errors.NotFound:
                return
        try:
            yield from log_lines(res, tty)
        except urllib3.exceptions.HTTPError:
            return  # the engine went away mid-stream (dockerd restarted): the stream just ends

    # ---- the compose command surface: one-off containers, attached I/O, copies ----

    def create_oneoff(self, spec: ContainerSpec, label_patch: dict[str, str | None], *, stdin: bool) -> str:
        """Create a container for `spec` with labels changed by `label_patch`
        (None drops a key); `stdin` keeps its stdin open for an attached client."""
        kwargs = create_kwargs(self.api, spec)
        for key, value in label_patch.items():
            kwargs["labels"].pop(key, None)
            if value is not None:
                kwargs["labels"][key] = value
        kwargs["stdin_open"] = stdin
        with translate(f"service {spec.service}: create {spec.name}"):
            cid = self.api.create_container(**kwargs)["Id"]
        self._complete(cid, spec)
        return cid

    def _pump(self, sock: Any, stdin: Any, tty: bool, out: Callable[[int, bytes], None]) -> None:
        """Copy the stdin file to the hijacked socket (then half-close it) while
        handing each (1 stdout | 2 stderr, bytes) frame read back to `out`."""
        import socket as pysocket

        import docker.utils.socket as dsock

        raw = _untimed(self.api, sock)
        if stdin is not None:

            def feed() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while chunk := os.read(stdin.fileno(), 65536):
                        raw.sendall(chunk)
                    raw.shutdown(pysocket.SHUT_WR)

            threading.Thread(target=feed, daemon=True).start()
        with contextlib.suppress(OSError, urllib3.exceptions.HTTPError):
            for stream, data in dsock.frames_iter(sock, tty):
                out(stream, data)

    def exec_io(
        self,
        container_id: str,
        argv: list[str],
        out: Callable[[int, bytes], None],
        *,
        stdin: Any = None,
        user: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        privileged: bool = False,
        detach: bool = False,
    ) -> int:
        """Run argv in the container with raw byte output (and the `stdin` file
        piped in); returns its exit code (0 at once when detached)."""
        with translate(f"exec in {container_id[:12]}"):
            ex = self.api.exec_create(
                container_id,
                argv,
                stdin=stdin is not None and not detach,
                user=user or "",
                workdir=workdir,
                environment=env,
                privileged=privileged,
            )
            if detach:
                self.api.exec_start(ex["Id"], detach=True)
                return 0
            sock = self.api.exec_start(ex["Id"], socket=True)
            self._pump(sock, stdin, False, out)
            while (info := self.api.exec_inspect(ex["Id"])).get("Running"):
                time.sleep(0.02)
            return int(info.get("ExitCode") or 0)

    def run_io(self, container_id: str, out: Callable[[int, bytes], None], *, stdin: Any = None) -> int:
        """Attach to a created container, start it, stream its output until it
        exits; returns its exit code."""
        with translate(f"run {container_id[:12]}"):
            tty = bool(self.api.inspect_container(container_id)["Config"].get("Tty"))
            params = {"stdout": 1, "stderr": 1, "stream": 1, "stdin": int(stdin is not None)}
            sock = self.api.attach_socket(container_id, params=params)
        self.start(container_id)
        self._pump(sock, stdin, tty, out)
        return self.wait(container_id)

    def wait(self, container_id: str) -> int:
        with translate(f"wait for {container_id[:12]}"):
            return int(self.api.wait(container_id, timeout=None)["StatusCode"])

    def get_archive(self, container_id: str, path: str) -> Iterator[bytes]:
        """A tar stream of `path` in the container."""
        with translate(f"copy from {container_id[:12]}:{path}"):
            stream, _stat = self.api.get_archive(container_id, path)
        return stream

    def top(self, container_id: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """The container's processes: (column titles, one row per process)."""
        with translate(f"processes of {container_id[:12]}"):
            data = self.api.top(container_id)
        return tuple(data.get("Titles") or ()), [tuple(map(str, r)) for r in data.get("Processes") or ()]

    def image_details(self, ref: str) -> ImageDetails | None:
        """Id, tags and size of an image, or None when it is not present."""
        with translate(f"image {ref}"):
            try:
                data = self.api.inspect_image(ref)
            except docker.errors.NotFound:
                return None
        return ImageDetails(str(data["Id"]), tuple(data.get("RepoTags") or ()), int(data.get("Size") or 0))

    def remove_image(self, ref: str) -> bool:
        """Remove an image by reference; False when it was not there."""
        with translate(f"remove image {ref}"):
            try:
                self.api.remove_image(ref)
            except docker.errors.NotFound:
                return False
        return True

    def pause(self, container_id: str, pause: bool = True) -> None:
        with translate(f"{'pause' if pause else 'unpause'} {container_id[:12]}"):
            (self.api.pause if pause else self.api.unpause)(container_id)

    def path_stat(self, container_id: str, path: str) -> PathStat | None:
        """A path in the container, or None when it does not exist."""
        import base64

        with translate(f"stat {container_id[:12]}:{path}"):
            try:
                res = _raw(self.api, "head", "/containers/{0}/archive", container_id, params={"path": path})
            except docker.errors.NotFound:
                return None
            header = res.headers.get("X-Docker-Container-Path-Stat") or ""
            data = json.loads(base64.b64decode(header)) if header else {}
        return PathStat(str(data.get("name", "")), int(data.get("size") or 0), int(data.get("mode") or 0))
