"""Malformed devrun.yaml files, each run through `devrun config -f` as a user
would: exit code 2, one stderr line per problem naming file:line:col, the
field path and what to do, and never a traceback."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import devrun


@dataclass(frozen=True)
class Expect:
    """One expected stderr line: where, which field, and a fragment of the message."""

    line: int
    col: int | None
    path: str
    says: str
    file: str = "devrun.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    yaml: str
    expect: list[Expect]
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def svc(body: str, extra: str = "") -> str:
    """A one-service file whose `web` service body is indented for us."""
    indented = "".join(f"    {ln}\n" for ln in body.strip("\n").splitlines())
    return f"services:\n  web:\n{indented}{extra}"


SRC = {"src/app.py": "print('hi')\n"}

CASES = [
    Case(
        "yaml-syntax",
        "services:\n  web:\n    image: [busybox\n",
        [Expect(4, 1, "", "YAML syntax error: expected ',' or ']'")],
    ),
    Case("tab-indent", "services:\n\tweb:\n", [Expect(2, 1, "", "indent with spaces, not tabs")]),
    Case(
        "bad-indent",
        "services:\n  web:\n    image: x\n   ports: []\n",
        [Expect(4, 4, "", "YAML syntax error")],
    ),
    Case("empty-file", "", [Expect(1, 1, "", "the file is empty")]),
    Case("comment-only", "# nothing yet\n", [Expect(1, 1, "", "the file is empty")]),
    Case("top-level-list", "- web\n- db\n", [Expect(1, 1, "", "top level must be a mapping")]),
    Case("top-level-scalar", "hello\n", [Expect(1, 1, "", "top level must be a mapping")]),
    Case(
        "two-documents", "services: {}\n---\nservices: {}\n", [Expect(2, 1, "", "expected a single document")]
    ),
    Case(
        "unknown-top-key",
        "services:\n  web: {image: x}\nvolume:\n  data: {}\n",
        [Expect(3, 1, "volume", "unknown key 'volume' (did you mean 'volumes'?)")],
    ),
    Case(
        "misspelt-services",
        "servics:\n  web: {image: x}\n",
        [Expect(1, 1, "services", "required"), Expect(1, 1, "servics", "(did you mean 'services'?)")],
    ),
    Case(
        "unknown-service-key",
        svc("image: x\nimag: y"),
        [Expect(4, 5, "services.web.imag", "(did you mean 'image'?)")],
    ),
    Case(
        "unknown-rule-key",
        svc("image: x\nwatch:\n  - path: src\n    action: restart\n    debunce: 1s"),
        [Expect(7, 9, "services.web.watch[0].debunce", "(did you mean 'debounce'?)")],
        SRC,
    ),
    Case("no-services", "services: {}\n", [Expect(1, 11, "services", "at least 1 item")]),
    Case("service-null", "services:\n  web:\n", [Expect(2, 7, "services.web", "valid dictionary")]),
    Case(
        "wrong-type-bool", svc("image: x\ninit: maybe"), [Expect(4, 11, "services.web.init", "valid boolean")]
    ),
    Case(
        "wrong-type-list", svc("image: x\nports: 8080"), [Expect(4, 12, "services.web.ports", "valid list")]
    ),
    Case(
        "wrong-type-str",
        svc("image: x\nworking_dir: [a]"),
        [Expect(4, 18, "services.web.working_dir", "valid string")],
    ),
    Case(
        "bad-action",
        svc("image: x\nwatch:\n  - path: src\n    action: restat"),
        [
            Expect(
                6,
                17,
                "services.web.watch[0].action",
                "not one of restart, signal, exec, sync, sync+restart, sync+exec, rebuild (did you mean 'restart'?)",
            )
        ],
        SRC,
    ),
    Case(
        "bad-signal",
        svc("image: x\nwatch:\n  - path: src\n    action: signal\n    signal: HUPP"),
        [Expect(7, 17, "services.web.watch[0].signal", "not a signal name")],
        SRC,
    ),
    Case(
        "signal-without-signal-action",
        svc("image: x\nwatch:\n  - path: src\n    action: restart\n    signal: HUP"),
        [Expect(7, 17, "services.web.watch[0].signal", "only applies to action signal, not restart")],
        SRC,
    ),
    Case(
        "exec-without-exec",
        svc("image: x\nwatch:\n  - path: src\n    action: sync+exec\n    target: /app"),
        [Expect(5, 9, "services.web.watch[0]", "needs `exec`")],
        SRC,
    ),
    Case(
        "exec-on-restart",
        svc("image: x\nwatch:\n  - path: src\n    action: restart\n    exec: make"),
        [Expect(7, 15, "services.web.watch[0].exec", "only applies to actions exec and sync+exec")],
        SRC,
    ),
    Case(
        "sync-without-target",
        svc("image: x\nwatch:\n  - path: src\n    action: sync"),
        [Expect(5, 9, "services.web.watch[0]", "needs `target`")],
        SRC,
    ),
    Case(
        "sync-relative-target",
        svc("image: x\nwatch:\n  - path: src\n    action: sync\n    target: app"),
        [Expect(7, 17, "services.web.watch[0].target", "must be an absolute container path")],
        SRC,
    ),
    Case(
        "bad-duration",
        svc("image: x\nwatch:\n  - path: src\n    action: restart\n    debounce: 5 parsecs"),
        [Expect(7, 19, "services.web.watch[0].debounce", "not a duration")],
        SRC,
    ),
    Case(
        "infinite-duration",
        svc("image: x\nstop_grace_period: .inf"),
        [Expect(4, 24, "services.web.stop_grace_period", "keep it finite")],
    ),
    Case(
        "bad-port",
        svc("image: x\nports: ['80:80:80:80']"),
        [Expect(4, 13, "services.web.ports[0]", "not a port")],
    ),
    Case(
        "port-out-of-range",
        svc("image: x\nports: ['99999:80']"),
        [Expect(4, 13, "services.web.ports[0].published", "less than or equal to 65535")],
    ),
    Case(
        "port-published-twice",
        "services:\n  a:\n    image: x\n    ports: ['8080:80']\n  b:\n    image: x\n    ports:\n      - '8080:81'\n",
        [Expect(8, 9, "services.b.ports[0]", "this host port is already published by services.a.ports")],
    ),
    Case(
        "depends-on-unknown",
        "services:\n  db: {image: x}\n  web:\n    image: x\n    depends_on:\n      - db\n      - dbb\n",
        [Expect(7, 9, "services.web.depends_on.dbb", "'dbb' is not a service (did you mean 'db'?)")],
    ),
    Case(
        "dependency-cycle",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
        [Expect(4, 17, "services.a.depends_on", "dependency cycle: a -> b -> a")],
    ),
    Case(
        "depends-condition",
        "services:\n  db: {image: x}\n  web:\n    image: x\n    depends_on:\n      db: {condition: healthy}\n",
        [Expect(6, 23, "services.web.depends_on.db.condition", "(did you mean 'service_healthy'?)")],
    ),
    Case(
        "no-image-or-build",
        svc("ports: ['8080:80']"),
        [Expect(2, 3, "services.web", "needs `image` or `build`")],
    ),
    Case(
        "build-context-missing",
        svc("build: ./nowhere"),
        [Expect(3, 12, "services.web.build.context", "is not a folder")],
    ),
    Case(
        "missing-bind-source",
        svc("image: x\nvolumes:\n  - ./nope:/app"),
        [Expect(5, 9, "services.web.volumes[0]", "bind source does not exist")],
    ),
    Case(
        "undeclared-volume",
        svc("image: x\nvolumes:\n  - dbdata:/data", "volumes:\n  db-data: {}\n"),
        [
            Expect(
                5,
                9,
                "services.web.volumes[0]",
                "the named volume is not declared under top-level `volumes:` (did you mean 'db-data'?)",
            )
        ],
    ),
    Case(
        "mount-mode",
        svc("image: x\nvolumes: ['./src:/app:rx']"),
        [Expect(4, 15, "services.web.volumes[0]", "must be 'ro' or 'rw'")],
        SRC,
    ),
    Case(
        "watch-outside-project",
        svc("image: x\nwatch:\n  - path: ../elsewhere\n    action: restart"),
        [Expect(5, 15, "services.web.watch[0].path", "is outside the project folder")],
    ),
    Case(
        "watch-path-missing",
        svc("image: x\nwatch:\n  - path: [src, nothere]\n    action: restart"),
        [Expect(5, 21, "services.web.watch[0].path[1]", "the watch path does not exist")],
        SRC,
    ),
    Case(
        "var-required",
        svc("image: ${IMAGE:?set IMAGE to the app image}"),
        [Expect(3, 12, "services.web.image", "IMAGE: set IMAGE to the app image")],
    ),
    Case(
        "var-unterminated",
        svc("image: busybox:${TAG"),
        [Expect(3, 12, "services.web.image", "unterminated '${'")],
    ),
    Case("var-bad-name", svc("image: ${1TAG}"), [Expect(3, 12, "services.web.image", "invalid variable")]),
    Case(
        "missing-env-file",
        svc("image: x\nenv_file: app.env"),
        [Expect(4, 15, "services.web.env_file[0]", "env file not found")],
    ),
    Case(
        "bad-dotenv-line",
        svc("image: x"),
        [Expect(2, 1, "", "cannot read this line", file=".env")],
        {".env": "GOOD=1\nthis is not an assignment\n"},
    ),
    Case(
        "bad-env-file-line",
        svc("image: x\nenv_file: app.env"),
        [Expect(3, 1, "", "cannot read this line", file="app.env")],
        {"app.env": "A=1\n# comment\n=x\n"},
    ),
    Case(
        "env-entry-no-name",
        svc("image: x\nenvironment: ['=x']"),
        [Expect(4, 18, "services.web.environment", "has no name before '='")],
    ),
    Case(
        "duplicate-key",
        "services:\n  web:\n    image: x\n    image: y\n",
        [Expect(4, 5, "services.web.image", "duplicate key 'image'")],
    ),
    Case(
        "restart-policy",
        svc("image: x\nrestart: sometimes"),
        [
            Expect(
                4,
                14,
                "services.web.restart",
                "restart is no, always, unless-stopped, on-failure or on-failure:N",
            )
        ],
    ),
    Case(
        "bad-service-name",
        "services:\n  'web app': {image: x}\n",
        [Expect(2, 3, "services.web app", "service name 'web app' may use")],
    ),
    Case(
        "project-name-symbols",
        "name: '!!!'\nservices:\n  web: {image: x}\n",
        [Expect(1, 7, "name", "has no letters or digits")],
    ),
    Case(
        "empty-healthcheck",
        svc("image: x\nhealthcheck: {test: []}"),
        [Expect(4, 25, "services.web.healthcheck.test", "at least 1 item")],
    ),
    Case(
        "python-tag",
        svc("image: !!python/object:os.system x"),
        [Expect(3, 12, "", "could not determine a constructor")],
    ),
    Case(
        "complex-key",
        "? [a, b]\n: 1\nservices: {web: {image: x}}\n",
        [Expect(1, 3, "", "a key must be a plain value")],
    ),
]


def expected_line(e: Expect) -> re.Pattern[str]:
    col = str(e.col) if e.col is not None else r"\d+"
    where = f"{re.escape(e.file)}:{e.line}:{col}: "
    path = f"{re.escape(e.path)}: " if e.path else ""
    return re.compile(f"^{where}{path}.*{re.escape(e.says)}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_config(case: Case, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "devrun.yaml").write_text(case.yaml)
    for rel, text in case.files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    result = devrun("config", "-f", "devrun.yaml", cwd=project, env=case.env)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert len(lines) == len(case.expect), result.stderr
    for line, want in zip(lines, case.expect, strict=True):
        assert expected_line(want).search(line), f"{line!r} does not match {want}"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


def test_all_problems_reported_in_one_run(tmp_path: Path) -> None:
    """Cross-field problems are collected, not stopped at the first."""
    (tmp_path / "devrun.yaml").write_text(
        "services:\n"
        "  web:\n"
        "    image: x\n"
        "    depends_on: [nope]\n"
        "    volumes: ['./missing:/app']\n"
        "  worker:\n"
        "    ports: ['1:1']\n"
    )
    result = devrun("config", "-f", "devrun.yaml", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [ln.split(": ")[1] for ln in lines] == [
        "services.web.depends_on.nope",
        "services.web.volumes[0]",
        "services.worker",
    ]
    assert [ln.split(":")[1] for ln in lines] == ["4", "5", "6"]
