"""Which Docker engine devrun talks to, chosen the way the docker CLI chooses it,
and whether that engine sees this machine's files, decided by a check.

Selection order (the CLI's `resolveContextName`, docs.docker.com "Docker contexts"):

    --context NAME  >  DOCKER_HOST  >  DOCKER_CONTEXT  >  currentContext in config.json  >  default

The default context is DOCKER_HOST or the platform socket, with TLS from
DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH. A named context is read from
the CLI's store: <config>/contexts/meta/<sha256(name)>/meta.json (Endpoints.docker
.Host, .SkipTLSVerify) and <config>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem,
where <config> is DOCKER_CONFIG or ~/.docker.

The store is read here rather than through docker-py's ContextAPI: docker-py 7
looks for it next to config.json and, when that file does not exist (a machine
where contexts were made with `docker context create` but nobody ever logged in),
in ./contexts of the working directory instead, finding nothing
(docker/docker-py#2622, #3190).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from devrun.errors import EngineError

Transport = Literal["unix", "tcp", "ssh", "npipe"]
DEFAULT_UNIX = "unix:///var/run/docker.sock"
DEFAULT_NPIPE = "npipe:////./pipe/docker_engine"
DEFAULT_CONTEXT = "default"
_SCHEMES: dict[str, Transport] = {"unix": "unix", "tcp": "tcp", "ssh": "ssh", "npipe": "npipe"}


@dataclass(frozen=True)
class EngineTarget:
    """Where the engine is and how to reach it; nothing is connected yet."""

    url: str  # unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host[:port], npipe:////./pipe/...
    transport: Transport
    context: str | None  # the named context it came from; None for DOCKER_HOST and the default
    source: str  # "--context", "DOCKER_HOST", "DOCKER_CONTEXT", "docker context use", "default"
    tls: bool = False
    tls_verify: bool = False
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    def describe(self) -> str:
        """One phrase for doctor and errors: `ssh://dev@box (context box, ssh)`."""
        how = f"context {self.context}, " if self.context else ""
        how += self.transport + (" + TLS" if self.tls else "")
        return f"{self.url} ({how})"

    def client_kwargs(self, timeout: float = 60, use_ssh_client: bool = False) -> dict[str, Any]:
        """Arguments for docker.DockerClient. Over ssh, paramiko (use_ssh_client=False)
        keeps one ssh connection for every request; the ssh binary opens one per
        pooled HTTP connection (docker-py's sshconn)."""
        kwargs: dict[str, Any] = {"base_url": self.url, "timeout": int(timeout)}
        if self.tls:
            from docker.tls import TLSConfig

            cert = (self.client_cert, self.client_key) if self.client_cert and self.client_key else None
            kwargs["tls"] = TLSConfig(client_cert=cert, ca_cert=self.ca_cert, verify=self.tls_verify)
        if self.transport == "ssh":
            kwargs["use_ssh_client"] = use_ssh_client
        return kwargs

    def client(self, timeout: float = 60, use_ssh_client: bool = False, ping: bool = False):
        """A docker-py client (over ssh: one paramiko connection for every call);
        `ping`: ask the engine once. Any failure is one EngineError line naming
        the host and the fix (connect_fault)."""
        import docker

        client = None
        try:
            client = docker.DockerClient(**self.client_kwargs(timeout, use_ssh_client))
            if self.transport == "ssh":
                from devrun.engine.sshlink import harden

                harden(client)
            if ping:
                client.ping()
            return client
        except Exception as e:  # noqa: BLE001 - docker-py raises several families here
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            raise EngineError(connect_fault(self, e)) from None

    def across_network(self) -> bool:
        """Reached over a network link (ssh, or tcp to another host), where bytes
        cost more than the CPU to compress them."""
        if self.transport == "ssh":
            return True
        if self.transport != "tcp":
            return False
        import ipaddress
        from urllib.parse import urlsplit

        host = urlsplit(self.url).hostname or ""
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host != "localhost"

    @property
    def host(self) -> str:
        """user@host:port or the socket path, for messages."""
        return self.url.split("://", 1)[1]


def _chain(e: BaseException) -> list[BaseException]:
    """The exception and what caused it (requests and urllib3 keep the cause in
    args or .reason rather than __cause__)."""
    out: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and cur not in out:
        out.append(cur)
        nxt = cur.__cause__ or cur.__context__
        reason = getattr(cur, "reason", None)
        if nxt is None and isinstance(reason, BaseException):
            nxt = reason
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        cur = nxt
    return out


def connect_fault(target: EngineTarget, e: BaseException) -> str:
    """One line for a failed connection: what went wrong, where, and the fix."""
    import ssl

    chain = _chain(e)
    names = {k.__name__ for x in chain for k in type(x).__mro__}
    local = target.transport in ("unix", "npipe") and not target.context
    at = f"the Docker engine at {target.url if local else target.describe()}"
    user, _, hostport = target.host.rpartition("@")
    if target.transport == "ssh":
        host, _, port = hostport.partition(":")
        ssh_cmd = f"ssh {'-p ' + port + ' ' if port else ''}{user + '@' if user else ''}{host}"
        if "AuthenticationException" in names:
            return (
                f"cannot reach {at}: ssh refused the login of {user or 'your user'} on {host}; "
                f"add your public key to that user's ~/.ssh/authorized_keys (ssh-copy-id), load it into ssh-agent "
                f"or name it in ~/.ssh/config (IdentityFile), and check that `{ssh_cmd} docker version` works"
            )
        if "BadHostKeyException" in names:
            return (
                f"cannot reach {at}: {host} showed a different ssh host key than ~/.ssh/known_hosts has; "
                f"if the box was reinstalled, remove the old key (ssh-keygen -R {host}) and connect once with `{ssh_cmd}`"
            )
        if "SSHException" in names and "known_hosts" in str(e):
            return f"cannot reach {at}: {host} is not in ~/.ssh/known_hosts; connect once with `{ssh_cmd}` to check and accept its key"
        if "NoValidConnectionsError" in names or "ConnectionRefusedError" in names or "gaierror" in names:
            return (
                f"cannot reach {at}: no ssh server answers at {hostport} ({_short(chain[-1])}); "
                f"check the address and that sshd runs there (`{ssh_cmd}`)"
            )
    if target.transport == "tcp":
        if any(isinstance(x, ssl.SSLError) for x in chain) or "SSLError" in names:
            return (
                f"cannot reach {at}: the TLS handshake failed ({_short(chain[-1])}); "
                "the engine may not speak TLS on that port (2375 is plain, 2376 TLS) or not trust these certificates: "
                "check DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (or the context's TLS material)"
            )
        if names & {
            "ConnectionRefusedError",
            "NewConnectionError",
            "ConnectTimeoutError",
            "gaierror",
            "ConnectTimeout",
        }:
            return (
                f"cannot reach {at}: nothing answers at {hostport} ({_short(chain[-1])}); "
                "check that the host is up and dockerd listens there (-H tcp://...), or pick another engine "
                "with --context or DOCKER_HOST"
            )
    reason = _short(chain[-1]).split("(")[0].strip().rstrip(":") or _short(chain[-1])
    fix = START_HINT if local else "check the address, or pick another engine with --context or DOCKER_HOST"
    return f"cannot reach {at} ({reason}); {fix}"


START_HINT = "start Docker (e.g. `sudo systemctl start docker`, or open Docker Desktop) or set DOCKER_HOST"
_flag_context: list[str | None] = [None]


def set_context_flag(name: str | None) -> None:
    """The global `--context NAME` flag (the CLI's root callback sets it)."""
    _flag_context[0] = name or None


def context_flag() -> str | None:
    return _flag_context[0]


def _short(e: BaseException) -> str:
    text = str(getattr(e, "explanation", None) or e) or type(e).__name__
    return text.splitlines()[0].strip()


def docker_config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".docker"


def context_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def transport_of(url: str, where: str) -> Transport:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES or not url.split("://", 1)[1]:
        raise EngineError(
            f"{where}: {url!r} is not an engine address; use unix:///path, tcp://host:port, ssh://user@host or npipe://"
        )
    return _SCHEMES[scheme]


def _current_context(config_dir: Path) -> str | None:
    path = config_dir / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise EngineError(f"cannot read {path} ({_short(e)}); fix or remove it") from None
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name or None


def known_contexts(config_dir: Path) -> list[str]:
    names = {DEFAULT_CONTEXT}
    for meta in (config_dir / "contexts" / "meta").glob("*/meta.json"):
        try:
            name = json.loads(meta.read_text()).get("Name")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(name, str):
            names.add(name)
    return sorted(names)


def _default_target(env: Mapping[str, str], config_dir: Path, source: str) -> EngineTarget:
    host = env.get("DOCKER_HOST", "").strip()
    url = host or (DEFAULT_NPIPE if sys.platform == "win32" else DEFAULT_UNIX)
    transport = transport_of(url, "DOCKER_HOST" if host else "default engine")
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    tls = verify or bool(env.get("DOCKER_TLS"))
    if not tls or transport != "tcp":
        return EngineTarget(url, transport, None, source)
    cert_dir = Path(env.get("DOCKER_CERT_PATH") or config_dir)
    files = {name: cert_dir / name for name in ("ca.pem", "cert.pem", "key.pem")}
    if verify and not files["ca.pem"].is_file():
        raise EngineError(
            f"DOCKER_TLS_VERIFY is set but {files['ca.pem']} does not exist; set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem"
        )
    have_client = files["cert.pem"].is_file() and files["key.pem"].is_file()
    return EngineTarget(
        url,
        transport,
        None,
        source,
        tls=True,
        tls_verify=verify,
        ca_cert=str(files["ca.pem"]) if files["ca.pem"].is_file() else None,
        client_cert=str(files["cert.pem"]) if have_client else None,
        client_key=str(files["key.pem"]) if have_client else None,
    )


def _context_target(name: str, config_dir: Path, source: str) -> EngineTarget:
    meta_path = config_dir / "contexts" / "meta" / context_id(name) / "meta.json"
    origin = {"--context": "--context", "DOCKER_CONTEXT": "DOCKER_CONTEXT"}.get(
        source, f"currentContext in {config_dir / 'config.json'}"
    )
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        known = ", ".join(known_contexts(config_dir))
        raise EngineError(
            f"unknown docker context {name!r} (from {origin}); known: {known}; see `docker context ls`"
        ) from None
    except (OSError, ValueError) as e:
        raise EngineError(
            f"docker context {name!r}: cannot read {meta_path} ({_short(e)}); recreate it with `docker context create`"
        ) from None
    endpoint = meta.get("Endpoints", {}).get("docker") if isinstance(meta, dict) else None
    if not isinstance(endpoint, dict) or not endpoint.get("Host"):
        raise EngineError(
            f"docker context {name!r} has no docker endpoint in {meta_path}; recreate it with `docker context create {name} --docker host=...`"
        )
    url = str(endpoint["Host"])
    transport = transport_of(url, f"docker context {name!r}")
    skip_verify = bool(endpoint.get("SkipTLSVerify"))
    tls_dir = config_dir / "contexts" / "tls" / context_id(name) / "docker"
    files = {n: tls_dir / n for n in ("ca.pem", "cert.pem", "key.pem")}
    present = {n: str(p) for n, p in files.items() if p.is_file()}
    tls = transport == "tcp" and (bool(present) or skip_verify)
    have_client = "cert.pem" in present and "key.pem" in present
    return EngineTarget(
        url,
        transport,
        name,
        source,
        tls=tls,
        tls_verify=tls and not skip_verify,
        ca_cert=present.get("ca.pem") if tls else None,
        client_cert=present.get("cert.pem") if tls and have_client else None,
        client_key=present.get("key.pem") if tls and have_client else None,
    )


def select_engine(context: str | None = None, env: Mapping[str, str] | None = None) -> EngineTarget:
    """The engine devrun should use: --context, then DOCKER_HOST, then DOCKER_CONTEXT,
    then the context `docker context use` chose, then the default. Raises EngineError
    (one line) for an unknown context, an unreadable store, or a malformed address."""
    env = os.environ if env is None else env
    config_dir = docker_config_dir(env)
    if context:
        name, source = context, "--context"
    elif env.get("DOCKER_HOST", "").strip():
        return _default_target(env, config_dir, "DOCKER_HOST")
    elif env.get("DOCKER_CONTEXT"):
        name, source = env["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    else:
        current = _current_context(config_dir)
        if not current:
            return _default_target(env, config_dir, "default")
        name, source = current, "docker context use"
    if name == DEFAULT_CONTEXT:
        return _default_target(env, config_dir, source)
    return _context_target(name, config_dir, source)


# ---- does the engine see this machine's files? ------------------------------------

PROBE_IMAGE = "devrun-probe:empty"  # no files at all: made from an empty tar, never started
PROBE_LABEL = "dev.devrun.probe"
_seen: dict[tuple[str, str], bool] = {}
_seen_lock = threading.Lock()


def _probe_image(client) -> str:
    import docker.errors

    try:
        client.api.inspect_image(PROBE_IMAGE)
    except docker.errors.ImageNotFound:
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w").close()
        repo, tag = PROBE_IMAGE.split(":")
        client.api.import_image_from_data(
            empty.getvalue(), repository=repo, tag=tag, changes=[f"LABEL {PROBE_LABEL}=1"]
        )
    return PROBE_IMAGE


def _read_through_engine(client, folder: Path, name: str) -> bytes | None:
    """The bytes of folder/name as a container on that engine sees them through a
    read-only bind mount, or None when the engine has no such folder. The container
    is created, never started (the archive API mounts its volumes), then removed."""
    import docker.errors
    from docker.types import Mount

    image = _probe_image(client)
    try:
        created = client.api.create_container(
            image,
            command=["/probe"],
            labels={PROBE_LABEL: "1"},
            network_disabled=True,
            host_config=client.api.create_host_config(
                mounts=[Mount("/probe", str(folder), type="bind", read_only=True)]
            ),
        )
    except docker.errors.APIError as e:
        # a bind source the engine's host does not have ("bind source path does not
        # exist"): the Mounts API refuses it, where -v would create an empty folder there
        if "does not exist" in str(e.explanation or e):
            return None
        raise
    cid = created["Id"]
    try:
        try:
            stream, _ = client.api.get_archive(cid, f"/probe/{name}")
        except docker.errors.NotFound:
            return None
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.getmembers()[0]
            extracted = tar.extractfile(member)
            return extracted.read() if extracted else None
    finally:
        try:
            client.api.remove_container(cid, force=True)
        except docker.errors.APIError:
            pass


def sees_host_files(client, project_dir: str | os.PathLike[str]) -> bool:
    """Whether containers on this engine see project_dir's files through a bind mount.

    Decided by a check, not by the URL (a tcp engine on 127.0.0.1 does see them; a unix
    socket forwarded from another machine does not): a marker file with random content
    is written into a fresh hidden folder under project_dir, and a container created on
    the engine with that folder bind-mounted read-only must read the same bytes. The
    answer is cached per (engine ID, project folder). Engine failures raise EngineError.
    """
    folder = Path(project_dir).resolve()
    try:
        engine_id = str(client.info().get("ID") or client.api.base_url)
    except Exception as e:  # noqa: BLE001
        raise EngineError(f"cannot ask the Docker engine at {client.api.base_url}: {_short(e)}") from None
    key = (engine_id, str(folder))
    with _seen_lock:
        if key in _seen:
            return _seen[key]
    token = secrets.token_hex(16).encode()
    try:
        probe = Path(tempfile.mkdtemp(prefix=".devrun-probe-", dir=folder))
    except OSError as e:
        raise EngineError(
            f"cannot tell whether the engine sees {folder}: cannot write a probe file there ({_short(e)})"
        ) from None
    try:
        (probe / "marker").write_bytes(token)
        try:
            seen = _read_through_engine(client, probe, "marker") == token
        except EngineError:
            raise
        except Exception as e:  # noqa: BLE001 - docker-py / requests failures
            raise EngineError(
                f"cannot tell whether the engine at {client.api.base_url} sees {folder}: {_short(e)}"
            ) from None
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    with _seen_lock:
        _seen[key] = seen
    return seen


def forget_seen() -> None:
    """Drop the cached answers (tests; an engine that was replaced under the same ID)."""
    with _seen_lock:
        _seen.clear()
