"""The `rebuild` watch action: under a real `devrun up` it rebuilds the image
and recreates the container (named volumes kept), a failing build leaves the
running container in place, and a rebuild rule on a service without `build:`
is a config error."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import DevrunUp, exec_out, wait_until, write_files


def test_rebuild_recreates_keeps_volume_and_survives_a_failing_build(tmp_path, project_name, docker_client):
    write_files(
        tmp_path,
        {
            "devrun.yaml": """
services:
  app:
    build: .
    volumes: ["data:/data"]
    command: ["sh", "-c", "cat /version > /data/seen; trap 'exit 0' TERM; while :; do sleep 0.1; done"]
    watch:
      - path: Dockerfile
        action: rebuild
volumes:
  data:
""",
            "Dockerfile": f"FROM {BUSYBOX}\nRUN echo v1 > /version\n",
        },
    )
    name = f"{project_name}-app"
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=120)
        wait_until(lambda: exec_out(docker_client, name, "cat", "/version").strip() == "v1", 10)
        docker_client.containers.get(name).exec_run(["sh", "-c", "echo precious > /data/keep"])
        (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo v2 > /version\n")
        ev = up.wait_for("action_finished", action="rebuild", timeout=120)[-1]
        assert ev["ok"], ev
        wait_until(lambda: exec_out(docker_client, name, "cat", "/version").strip() == "v2", 20)
        assert exec_out(docker_client, name, "cat", "/data/keep").strip() == "precious"
        good_id = docker_client.containers.get(name).id
        # a broken Dockerfile: the error is reported, the running container stays
        (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN exit 3\n")
        ev = up.wait_for("action_finished", action="rebuild", count=2, timeout=120)[-1]
        assert not ev["ok"] and ev["error"]
        c = docker_client.containers.get(name)
        assert c.id == good_id and c.status == "running"


def test_rebuild_rule_on_a_service_without_build_is_a_config_error(tmp_path: Path):
    """It used to be accepted and each change reported `rebuild done` while
    nothing was rebuilt (compose refuses it too)."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "devrun.yaml").write_text(f"""services:
  web:
    image: {BUSYBOX}
    watch:
      - path: conf
        action: rebuild
""")
    res = devrun("config", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "devrun.yaml:6:17: services.web.watch[0].action: action rebuild needs `build:` on the service (an image is not rebuilt); "
        "add `build:` or use restart"
    ]
