"""converge and the spec builder: pure, table-driven."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devrun import plan
from devrun.config.model import Project
from devrun.plan import ImageInfo, Observed, Step, config_hash, converge

IMG = ImageInfo(ref="busybox:stable", id="sha256:aaa", entrypoint=(), cmd=("sh",), has_shell=True)


def project(**svc) -> Project:
    return Project.model_validate(
        {"services": {"web": {"image": "busybox:stable", **svc}, "db": {"image": "busybox:stable"}}}
    )


def specs(**svc):
    return plan.desired_specs(project(**svc), "p", {"db": IMG, "web": IMG})


def obs(service: str, spec, state: str = "running", cid: str | None = None, stale: bool = False) -> Observed:
    h = "old" if stale else config_hash(spec)
    return Observed(
        id=cid or f"id-{service}", name=f"p-{service}", service=service, state=state, config_hash=h
    )


def kinds(steps: list[Step]) -> list[tuple[str, str]]:
    return [(s.kind, s.service) for s in steps]


D = specs()


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ([], [("create", "db"), ("create", "web")]),
        ([obs("db", D["db"]), obs("web", D["web"])], [("keep", "db"), ("keep", "web")]),
        ([obs("db", D["db"], state="exited"), obs("web", D["web"])], [("start", "db"), ("keep", "web")]),
        (
            [obs("db", D["db"], state="created"), obs("web", D["web"], stale=True)],
            [("start", "db"), ("recreate", "web")],
        ),
        (
            [obs("db", D["db"]), obs("web", D["web"]), obs("gone", D["web"])],
            [("keep", "db"), ("keep", "web")],
        ),
        # two containers for one service: the matching running one stays, the other goes first
        (
            [obs("db", D["db"], cid="a", stale=True), obs("db", D["db"], cid="b")],
            [("remove", "db"), ("keep", "db"), ("create", "web")],
        ),
    ],
)
def test_converge_table(observed, expected):
    assert kinds(converge(D, observed)) == expected


def test_orphans_removed_only_when_asked():
    extra = [obs("db", D["db"]), obs("web", D["web"]), obs("gone", D["web"], cid="x")]
    assert ("remove", "gone") in kinds(converge(D, extra, remove_orphans=True))
    assert ("remove", "gone") not in kinds(converge(D, extra))


def test_recreate_keeps_old_id_for_removal():
    steps = converge(D, [obs("db", D["db"], stale=True, cid="old-db"), obs("web", D["web"])])
    assert steps[0] == Step("recreate", "db", D["db"], "old-db")


def test_hash_changes_with_env_and_image_but_not_order_of_env():
    a = specs(environment={"A": "1", "B": "2"})["web"]
    b = specs(environment={"B": "2", "A": "1"})["web"]
    c = specs(environment={"A": "1", "B": "3"})["web"]
    assert config_hash(a) == config_hash(b) != config_hash(c)
    assert config_hash(replace(a, image_id="sha256:bbb")) != config_hash(a)


def test_env_change_recreates_only_that_service():
    before = specs(environment={"A": "1"})
    after = specs(environment={"A": "2"})
    observed = [obs("db", before["db"]), obs("web", before["web"])]
    assert kinds(converge(after, observed)) == [("keep", "db"), ("recreate", "web")]


@pytest.mark.parametrize(
    ("svc", "image", "mode"),
    [
        ({}, IMG, "process"),
        ({"restart_mode": "container"}, IMG, "container"),
        ({}, replace(IMG, has_shell=False), "container"),
        ({"watch": [{"path": ".", "action": "signal", "signal": "USR2"}]}, IMG, "container"),
    ],
)
def test_restart_mode(svc, image, mode):
    cfg = Project.model_validate({"services": {"web": {"image": "x", **svc}}})
    assert plan.restart_mode(cfg.services["web"], image) == mode


@pytest.mark.parametrize(
    ("svc", "image", "argv"),
    [
        ({}, ImageInfo("i", "x", ("ep",), ("cmd", "a")), ("ep", "cmd", "a")),
        ({"command": ["run"]}, ImageInfo("i", "x", ("ep",), ("cmd",)), ("ep", "run")),
        ({"entrypoint": ["e2"]}, ImageInfo("i", "x", ("ep",), ("cmd",)), ("e2",)),
        (
            {"entrypoint": "e2 -x", "command": "c y"},
            ImageInfo("i", "x", ("ep",), ("cmd",)),
            ("e2", "-x", "c", "y"),
        ),
    ],
)
def test_app_argv_combines_like_docker(svc, image, argv):
    cfg = Project.model_validate({"services": {"web": {"image": "x", **svc}}})
    assert plan.app_argv(cfg.services["web"], image) == argv


def test_process_mode_wraps_argv_in_supervisor():
    spec = specs(command=["python", "app.py"], stop_grace_period="3s")["web"]
    assert spec.entrypoint is not None and spec.entrypoint[:2] == ("/bin/sh", "-c")
    assert spec.entrypoint[2].startswith("grace=3\n") and spec.entrypoint[3] == plan.SUPERVISOR_ARGV0
    assert spec.command == ("python", "app.py")
    assert plan.container_labels(spec)["dev.devrun.restart-mode"] == "process"


def test_names_ports_and_volumes():
    cfg = Project.model_validate(
        {
            "services": {
                "web": {"image": "x", "ports": ["8080:80", "0.0.0.0:9090:90"], "volumes": ["data:/data"]}
            },
            "volumes": {"data": {}},
        }
    )
    spec = plan.desired_specs(cfg, "proj", {"web": IMG})["web"]
    assert spec.name == "proj-web" and spec.network == "proj_default" and spec.aliases == ("web", "proj-web")
    assert [(p.host_ip, p.published) for p in spec.ports] == [("127.0.0.1", 8080), ("0.0.0.0", 9090)]
    assert spec.mounts[0].source == "proj_data"
