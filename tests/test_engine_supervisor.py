"""Process restart mode on the real engine: the supervisor restarts the app on
USR2 (new PID, same container), forwards HUP, and exits with the app's code."""

from __future__ import annotations

import time

import pytest
from conftest import BUSYBOX, PYTHON

from devrun import plan
from devrun.config.model import Project
from devrun.engine.docker import Engine
from tests.live_helpers import wait_until

APP = 'trap "echo got-HUP" HUP; echo "pid $$"; while :; do sleep 0.05; done'


def logs(engine: Engine, cid: str) -> list[str]:
    return [line for _s, line in engine.logs(cid, follow=False)]


@pytest.fixture
def engine(docker_client) -> Engine:
    return Engine.connect()


def start(engine: Engine, project_name: str, image: str, command: list[str], **svc) -> str:
    cfg = Project.model_validate(
        {"services": {"app": {"image": image, "command": command, "stop_grace_period": "2s", **svc}}}
    )
    info = engine.image_info(image)
    assert info is not None
    spec = plan.desired_specs(cfg, project_name, {"app": info})["app"]
    engine.ensure_network(project_name, spec.network)
    cid = engine.create(spec)
    engine.start(cid)
    return cid


@pytest.mark.docker
@pytest.mark.parametrize("image", [BUSYBOX, PYTHON])
def test_usr2_restarts_app_in_same_container(engine, project_name, image):
    cid = start(engine, project_name, image, ["sh", "-c", APP])
    assert engine.state(cid).restart_mode == "process"
    first = wait_until(
        lambda: [ln for ln in logs(engine, cid) if ln.startswith("pid ")],
        interval=0.05,
        what="the app's pid line",
    )
    engine.kill(cid, "SIGHUP")
    wait_until(lambda: "got-HUP" in logs(engine, cid), interval=0.05, what="the app's got-HUP line")
    engine.restart_process(cid)
    pids = wait_until(
        lambda: (p := [ln for ln in logs(engine, cid) if ln.startswith("pid ")]) and len(p) >= 2 and p,
        interval=0.05,
        what="a second pid line (the restarted app)",
    )
    assert pids[1] != first[0]
    state = engine.state(cid)
    assert state.running and state.restart_count == 0


@pytest.mark.docker
@pytest.mark.parametrize("image", [BUSYBOX, PYTHON])
def test_exit_code_of_app_and_fast_stop(engine, project_name, image):
    cid = start(engine, project_name, image, ["sh", "-c", "sleep 0.3; exit 7"])
    wait_until(lambda: not engine.state(cid).running, interval=0.05, what="the app to exit")
    assert engine.state(cid).exit_code == 7
    # TERM goes to the whole app group: stop is quick, not the grace period
    cid2 = start(engine, project_name + "b", image, ["sh", "-c", "sleep 100"])
    t0 = time.monotonic()
    engine.stop(cid2, 2)
    assert time.monotonic() - t0 < 1.5
    assert engine.state(cid2).exit_code == 143
    engine.remove(cid2)
    engine.remove_network(f"{project_name}b_default")


@pytest.mark.docker
def test_image_without_shell_falls_back_to_container_mode(engine, project_name):
    cfg = Project.model_validate({"services": {"app": {"image": BUSYBOX}}})
    info = engine.image_info(BUSYBOX)
    assert info is not None and info.has_shell
    no_shell = plan.ImageInfo(ref=info.ref, id=info.id, has_shell=False)
    assert plan.desired_specs(cfg, project_name, {"app": no_shell})["app"].restart_mode == "container"
