"""The cheap compose keys applied on the engine: extra_hosts, dns, dns_search,
sysctls, read_only (in the container and in the config hash); post_start
and pre_stop are read (tests/test_compose_hooks.py runs them)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from devrun.config import loader
from devrun.plan import ImageInfo, config_hash, service_spec
from tests.conftest import BUSYBOX, LABEL_PROJECT, devrun
from tests.live_helpers import write_files

COMPOSE = f"""
services:
  app:
    image: {BUSYBOX}
    command: ["sleep", "300"]
    init: true
    extra_hosts: ["db.local=10.1.2.3", "cache.local:10.1.2.4"]
    dns: 9.9.9.9
    dns_search: [example.test]
    sysctls: {{net.ipv4.ip_unprivileged_port_start: "0"}}
    read_only: true
    tmpfs: [/tmp]
  other:
    image: {BUSYBOX}
    network_mode: service:app
    post_start: [{{command: ["true"]}}]
    pre_stop: [{{command: ["true"]}}]
"""

IMAGE = ImageInfo(ref=BUSYBOX, id="sha256:x", has_shell=True)


def test_the_keys_reach_the_spec_and_the_hash(tmp_path: Path) -> None:
    write_files(tmp_path, {"compose.yaml": COMPOSE})
    cfg = loader.load(start=tmp_path, environ={})
    spec = service_spec(cfg.project, "p", "app", IMAGE)
    assert spec.extra_hosts == ("db.local:10.1.2.3", "cache.local:10.1.2.4")
    assert spec.dns == ("9.9.9.9",) and spec.dns_search == ("example.test",)
    assert spec.sysctls == (("net.ipv4.ip_unprivileged_port_start", "0"),) and spec.read_only
    plain = service_spec(cfg.project, "p", "other", IMAGE)
    cfg.project.services["app"].dns = ["1.1.1.1"]
    assert config_hash(service_spec(cfg.project, "p", "app", IMAGE)) != config_hash(spec)
    # unset, they leave the hash of a container made before they existed as it was
    before = {
        k: v
        for k, v in asdict(plain).items()
        if k not in ("extra_hosts", "dns", "dns_search", "sysctls", "read_only")
    }
    text = json.dumps(before, sort_keys=True, separators=(",", ":"))
    assert config_hash(plain) == hashlib.sha256(text.encode()).hexdigest()
    notes = "\n".join(cfg.notes)
    for key in ("post_start", "pre_stop"):
        assert f"services.other.{key}: not applied" not in notes


def test_extra_hosts_map_form_and_a_wrong_entry(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "compose.yaml": f"services:\n  a:\n    image: {BUSYBOX}\n    extra_hosts: {{h: [1.2.3.4, '::1']}}\n"
        },
    )
    cfg = loader.load(start=tmp_path, environ={})
    assert cfg.project.services["a"].extra_hosts == ["h:1.2.3.4", "h:::1"]
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  a:\n    image: {BUSYBOX}\n    extra_hosts: [nohost]\n"
    )
    r = devrun("config", cwd=tmp_path)
    assert r.returncode == 2 and "extra_hosts: extra_hosts entries are 'HOST:IP' or 'HOST=IP'" in r.stderr


@pytest.mark.docker
def test_the_keys_hold_in_the_container(tmp_path: Path, project_name: str, docker_client) -> None:
    write_files(tmp_path, {"compose.yaml": COMPOSE.split("  other:")[0]})
    r = devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        (c,) = docker_client.containers.list(filters={"label": f"{LABEL_PROJECT}={project_name}"})

        def run(*argv: str) -> tuple[int, str]:
            code, out = c.exec_run(list(argv))
            return code, out.decode()

        hosts = run("cat", "/etc/hosts")[1]
        assert "10.1.2.3\tdb.local" in hosts and "10.1.2.4\tcache.local" in hosts
        assert run("cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start")[1].strip() == "0"
        assert run("touch", "/root-file")[0] != 0  # read-only root
        assert run("touch", "/tmp/ok")[0] == 0  # the tmpfs stays writable
        host = c.attrs["HostConfig"]
        assert host["Dns"] == ["9.9.9.9"] and host["DnsSearch"] == ["example.test"]
        assert host["ReadonlyRootfs"] is True
        assert "search example.test" in run("cat", "/etc/resolv.conf")[1]
        first = c.id
        # a change to one of them recreates the container
        (tmp_path / "compose.yaml").write_text(
            (tmp_path / "compose.yaml").read_text().replace("dns: 9.9.9.9", "dns: 1.1.1.1")
        )
        r = devrun("up", "-d", "-p", project_name, cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stderr
        (c,) = docker_client.containers.list(filters={"label": f"{LABEL_PROJECT}={project_name}"})
        assert c.id != first and c.attrs["HostConfig"]["Dns"] == ["1.1.1.1"]
    finally:
        devrun("down", "-p", project_name, "-t", "0", cwd=tmp_path)
