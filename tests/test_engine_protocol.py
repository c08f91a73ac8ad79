"""The engine seam: the Docker engine and the shared fake both implement
devrun.engine.protocol.Engine, the protocol costs no docker import, and the
session helpers read only its plain answers (driven here through the fake)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from devrun import labels
from devrun.engine import protocol
from devrun.errors import DevrunError, EngineError
from devrun.output import Printer
from devrun.plan import Health, PublishedPort
from devrun.session import lifecycle, project_ops
from tests.conftest import REPO
from tests.fake_engine import FakeEngine

METHODS = sorted(n for n, f in vars(protocol.Engine).items() if callable(f) and not n.startswith("_"))


def _params(f) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(f).parameters.values()]


@pytest.mark.parametrize("name", METHODS)
def test_docker_engine_and_fake_have_every_protocol_method(name):
    from devrun.engine.docker import Engine

    want = _params(getattr(protocol.Engine, name))
    assert _params(getattr(Engine, name)) == want
    assert _params(getattr(FakeEngine, name)) == want


def test_the_protocol_does_not_import_docker():
    code = "import sys, devrun.engine.protocol, devrun.session.runner; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_published_reads_the_ports_of_the_state():
    engine = FakeEngine()
    cid = engine.add("web", "c1", ports=(PublishedPort(80, "tcp", "127.0.0.1", 32768),))
    assert project_ops.published(engine, cid, 80, "tcp") == "127.0.0.1:32768"
    with pytest.raises(DevrunError, match=r"no published port 81/tcp \(published: 80/tcp\)"):
        project_ops.published(engine, cid, 81, "tcp")


def test_oneoff_containers_are_found_by_their_label():
    engine = FakeEngine()
    engine.add("web", "c1")
    engine.add("", "c2", labels={labels.PROJECT: "fake", labels.ONEOFF: "web"})
    assert [(o.id, service) for o, service in project_ops.oneoff_containers(engine, "fake")] == [
        ("c2", "web")
    ]


def test_wait_healthy_names_the_last_healthcheck_line():
    engine = FakeEngine()
    cid = engine.add("db", "c1", health="unhealthy", health_output="connection refused")
    hc = Health(("true",), 1.0, 1.0, 1, 0.0)
    with pytest.raises(EngineError, match="service db did not become healthy: connection refused"):
        lifecycle.wait_healthy(engine, "db", hc, cid, Printer(json_mode=True))


def test_translate_is_the_one_wording_of_docker_failures():
    import docker.errors
    import requests

    from devrun.engine.docker import translate

    def failing(exc: Exception, **kw) -> str:
        with pytest.raises(EngineError) as e, translate(**kw):
            raise exc
        return str(e.value)

    gone = docker.errors.NotFound("404", explanation="No such container: c1")
    assert failing(gone, what="container c1") == "container c1: not found (No such container: c1)"
    refused = requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='box', port=2375): Max retries exceeded with url: /v1.41/containers/json "
        "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection>: Failed to establish a new "
        "connection: [Errno 111] Connection refused'))"
    )
    assert failing(refused, what="list containers") == (
        "list containers: the engine cannot be reached (Connection refused)"
    )
    assert failing(requests.exceptions.ReadTimeout("read timed out"), what="inspect") == (
        "inspect: the engine did not answer in time"
    )
    assert failing(OSError(), what="copy") == "copy: OSError"
    assert (
        failing(gone, say=lambda reason: f"cannot start: {reason}") == "cannot start: No such container: c1"
    )
    with pytest.raises(EngineError, match="^as it was$"), translate("ignored"):
        raise EngineError("as it was")
