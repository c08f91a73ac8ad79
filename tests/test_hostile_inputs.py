"""Hostile and malformed inputs: each is refused with one clear line, exit
code 2 and no traceback, by `devrun config` and by `devrun up` (which must
leave nothing behind on the engine)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import LABEL_PROJECT, devrun

BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    + "services: {web: {image: x}}\n"
)


@dataclass(frozen=True)
class Hostile:
    id: str
    says: str
    yaml: str | bytes = "services:\n  web:\n    image: busybox:stable\n"
    files: dict[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ()


def web(extra: str) -> str:
    body = "".join(f"    {ln}\n" for ln in extra.strip("\n").splitlines())
    return f"services:\n  web:\n    image: busybox:stable\n{body}"


SRC = {"src/app.py": "x = 1\n"}
HOME = str(Path.home())

CORPUS = [
    # documents that try to exhaust the parser
    Hostile("billion-laughs", "document too large or too deeply nested", BILLION_LAUGHS),
    Hostile("recursive-alias", "document too large or too deeply nested", "&a [*a]\n"),
    Hostile("deep-flow-nesting", "nests too deeply", "a: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    Hostile(
        "deep-block-nesting",
        "too deeply nested",
        "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x\n",
    ),
    Hostile(
        "huge-file", "a devrun.yaml is at most", "services: {web: {image: x}}\n" + "# padding\n" * 500_000
    ),
    Hostile("non-utf8", "not UTF-8 text", b"services:\n  web:\n    image: \xff\xfe\n"),
    Hostile("binary", "not UTF-8 text", bytes(range(256)) * 4),
    Hostile("nul-bytes", "control character '\\x00'", "services:\n  web:\n    image: busy\x00box\n"),
    Hostile(
        "python-object-tag",
        "YAML tag tag:yaml.org,2002:python/object/apply:os.system is not supported",
        "services: !!python/object/apply:os.system ['true']\n",
    ),
    # host exposure without opt-in
    Hostile("docker-socket", "Docker socket", web("volumes: ['/var/run/docker.sock:/var/run/docker.sock']")),
    Hostile("mount-root", "mounting / exposes the whole host", web("volumes: ['/:/host']")),
    Hostile("mount-home", "mounting your home folder", web(f"volumes: ['{HOME}:/home/me']")),
    Hostile("mount-home-tilde", "mounting your home folder", web("volumes: ['~:/home/me']")),
    Hostile(
        "mount-outside",
        "is outside the project folder",
        web("volumes: ['../outside:/data']"),
        {"../outside/f": "x"},
    ),
    Hostile("mount-parent", "is outside the project folder", web("volumes: ['..:/data']")),
    Hostile(
        "mount-symlink-to-root",
        "mounting / exposes the whole host",
        web("volumes: ['./root-link:/host']"),
        {"root-link": "@/"},
    ),
    Hostile(
        "build-context-root",
        "mounting / exposes the whole host to the build",
        "services:\n  web:\n    build: /\n",
    ),
    Hostile("privileged", "set allow_privileged: true", web("privileged: true")),
    Hostile("cap-add", "set allow_cap_add: true", web("cap_add: [SYS_ADMIN]")),
    Hostile("host-network", "set allow_host_network: true", web("network_mode: host")),
    # signal names
    Hostile("signal-injection", "not a signal name", web("stop_signal: 'KILL;rm'")),
    Hostile("signal-with-number", "not a signal name", web("stop_signal: 'HUP 9'")),
    Hostile("signal-empty", "not a signal name", web("stop_signal: ''")),
    Hostile("signal-number", "not a signal number", web("stop_signal: 99999")),
    Hostile(
        "signal-in-rule",
        "not a signal name",
        web("watch:\n  - path: src\n    action: signal\n    signal: '-9'"),
        SRC,
    ),
    # port specs
    Hostile("port-too-big", "less than or equal to 65535", web("ports: ['99999:80']")),
    Hostile("port-negative", "not a port", web("ports: ['-1:80']")),
    Hostile("port-names", "not a port", web("ports: ['a:b']")),
    Hostile("port-range", "ranges are not supported", web("ports: ['8080-8090:80']")),
    Hostile("port-zero-target", "greater than or equal to 1", web("ports: ['8080:0']")),
    # durations
    Hostile("duration-negative", "not a duration", web("stop_grace_period: -5s")),
    Hostile("duration-parsecs", "not a duration", web("stop_grace_period: 5 parsecs")),
    Hostile("duration-1e309", "not a duration", web("stop_grace_period: 1e309")),
    Hostile("duration-float-inf", "keep it finite", web("stop_grace_period: 1.0e+309")),
    Hostile("duration-nan", "keep it finite", web("stop_grace_period: .nan")),
    # env files
    Hostile("env-no-name", "cannot read this line", web("env_file: app.env"), {"app.env": "=x\n"}),
    Hostile("env-bare-export", "cannot read this line", web("env_file: app.env"), {"app.env": "export\n"}),
    Hostile("dotenv-binary", "cannot read", files={".env": b"\x00\x01\x02garbage\n"}),
    # paths with ..
    Hostile(
        "watch-dotdot",
        "is outside the project folder",
        web("watch:\n  - path: ../../etc\n    action: restart"),
    ),
    Hostile(
        "watch-dotdot-inside",
        "is outside the project folder",
        web("watch:\n  - path: src/../../x\n    action: restart"),
        SRC,
    ),
    Hostile(
        "watch-absolute", "is outside the project folder", web("watch:\n  - path: /etc\n    action: restart")
    ),
    Hostile(
        "sync-target-dotdot",
        "without '..'",
        web("watch:\n  - path: src\n    action: sync\n    target: /app/../etc"),
        SRC,
    ),
    # names and keys that try to smuggle text
    Hostile("service-name-shell", "service name 'web…' may use", "services:\n  'web;rm -rf': {image: x}\n"),
    Hostile("key-with-newline", "unknown key 'a…'", web('"a\\nb": 1')),
    # command-line arguments
    Hostile("cli-missing-file", "no such file", args=("-f", "/nonexistent/devrun.yaml")),
    Hostile("cli-symbol-project", "a project name needs letters or digits", args=("-p", "!!!")),
    Hostile("cli-unknown-option", "No such option", args=("--bogus",)),
]


def materialise(case: Hostile, root: Path) -> Path:
    project = root / "proj"
    project.mkdir()
    data = case.yaml.encode() if isinstance(case.yaml, str) else case.yaml
    (project / "devrun.yaml").write_bytes(data)
    for rel, content in case.files.items():
        target = project / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("@"):
            target.symlink_to(content[1:])
        else:
            target.write_bytes(content.encode() if isinstance(content, str) else content)
    return project


def assert_refused(result, says: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert says in result.stderr, result.stderr
    assert result.stdout == ""
    # click's own usage errors add a "Usage:/Try" preamble; everything else is one line per problem
    said = [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith(("Usage:", "Try "))]
    assert len(said) <= 3, result.stderr


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_config_refuses(case: Hostile, tmp_path: Path) -> None:
    project = materialise(case, tmp_path)
    assert_refused(devrun("config", *case.args, cwd=project), case.says)


@pytest.mark.docker
@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_up_refuses_and_leaves_nothing(
    case: Hostile, tmp_path: Path, docker_client, project_name: str
) -> None:
    project = materialise(case, tmp_path)
    args = case.args if "-p" in case.args else ("-p", project_name, *case.args)
    assert_refused(devrun(*args, "up", "-d", cwd=project, timeout=60), case.says)
    label = {"label": f"{LABEL_PROJECT}={project_name}"}
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.volumes.list(filters=label) == []


def test_corpus_size() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(
    "opt_in",
    [
        ("allow_host_paths: ['../outside']", "volumes: ['../outside:/data']"),
        (
            "allow_host_paths: ['/var/run/docker.sock']",
            "volumes: ['/var/run/docker.sock:/var/run/docker.sock']",
        ),
        ("allow_privileged: true", "privileged: true"),
        ("allow_cap_add: true", "cap_add: [NET_ADMIN]"),
        ("allow_host_network: true", "network_mode: host"),
    ],
    ids=["outside-path", "docker-socket", "privileged", "cap-add", "host-network"],
)
def test_opt_in_allows(opt_in: tuple[str, str], tmp_path: Path) -> None:
    top, service_line = opt_in
    if not os.path.exists("/var/run/docker.sock") and "docker.sock" in top:
        pytest.skip("no docker socket on this machine to mount")
    case = Hostile("opt-in", "", f"{top}\n" + web(service_line), {"../outside/f": "x"})
    project = materialise(case, tmp_path)
    result = devrun("config", cwd=project)
    assert result.returncode == 0, result.stderr
