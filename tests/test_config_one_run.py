"""Config errors: one run names every problem it can find (interpolation,
merge, include, extends, the model and the cross-field checks together), each
as `file:line:col: path: message` naming the file the value came from, and no
error quotes a value or more than a short excerpt of a key."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import devrun

SHADOW = (
    "root:$6$abcdefgh$SECRETHASHVALUExyz:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "operator:$6$ijklmnop$OTHERHASHvalue:19000:0:99999:7:::\n"
)


def test_devrun_yaml_problems_of_every_stage_come_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "devrun.yaml").write_text(
        "services:\n"
        "  a:\n"
        "    image: ${NEED:?set NEED}\n"
        '    ports: ["${SECRET}"]\n'
        '    volumes: ["./nope:/x", "data:/d"]\n'
        "    depends_on: [ghost]\n"
        "    bogus: 1\n"
        "  b:\n"
        '    image: "${UNTERMINATED"\n'
        "    stop_signal: ${SECRET}\n"
        "    watch:\n"
        "      - path: missing\n"
        "        action: restart\n"
    )
    (tmp_path / ".env").write_text("OK=1\nthis line is hunter2 too\n")
    r = devrun("config", cwd=tmp_path, env={"SECRET": "hunter2 pw", "NEED": ""})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    expected = [
        ".env:2:1: cannot read this line",
        "devrun.yaml:3:12: services.a.image: NEED: set NEED",
        "devrun.yaml:4:13: services.a.ports[0]: not a port",
        "devrun.yaml:5:15: services.a.volumes[0]: bind source does not exist",
        "devrun.yaml:5:28: services.a.volumes[1]: the named volume is not declared",
        "devrun.yaml:6:18: services.a.depends_on.ghost: 'ghost' is not a service",
        "devrun.yaml:7:5: services.a.bogus: unknown key 'bogus'",
        "devrun.yaml:9:12: services.b.image: unterminated '${'",
        "devrun.yaml:10:18: services.b.stop_signal: not a signal name",
        "devrun.yaml:12:15: services.b.watch[0].path: the watch path does not exist",
    ]
    assert len(lines) == len(expected), r.stderr
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert "hunter2" not in r.stderr


def test_compose_problems_of_every_stage_come_in_one_run_naming_their_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "include: [missing.yaml]\n"
        "services:\n"
        "  a:\n"
        "    image: ${NEED:?set NEED}\n"
        "    extends: {service: nothere}\n"
        "    depends_on: [pro]\n"
        "  pro:\n"
        "    image: busybox:stable\n"
        "    profiles: [x]\n"
    )
    (tmp_path / "compose.override.yaml").write_text(
        'services:\n  a:\n    ports: ["${SECRET}"]\n    stop_grace_period: [1]\n'
    )
    r = devrun("config", cwd=tmp_path, env={"SECRET": "hunter2:pw:x:y"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    expected = [
        "compose.override.yaml:3:13: services.a.ports[0]: not a port",
        "compose.override.yaml:4:24: services.a.stop_grace_period: not a duration",
        "compose.yaml:1:11: include[0]: included file missing.yaml does not exist",
        "compose.yaml:4:12: services.a.image: NEED: set NEED",
        "compose.yaml:5:14: services.a.extends: 'nothere' is not a service here",
        "compose.yaml:6:18: services.a.depends_on.pro: 'pro' has profiles that are not active",
    ]
    lines = r.stderr.splitlines()
    assert len(lines) == len(expected), r.stderr
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert "hunter2" not in r.stderr


def test_a_devrun_yaml_linked_to_a_secrets_file_is_not_echoed(tmp_path: Path) -> None:
    secrets = tmp_path / "shadow"
    secrets.write_text(SHADOW)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "devrun.yaml").symlink_to(secrets)
    for args in (("config",), ("config", "--json"), ("doctor",)):
        r = devrun(*args, cwd=project)
        out = r.stdout + r.stderr
        assert r.returncode in (1, 2) and "Traceback" not in out, out
        for word in ("root:", "daemon:", "operator:", "SECRETHASH", "OTHERHASH", "19000", "99999"):
            assert word not in out, (args, out)
        assert "not a devrun.yaml" in out and "its content is not shown" in out
    # with -f too, and as a compose file
    (project / "compose.yaml").symlink_to(secrets)
    r = devrun("-f", "compose.yaml", "config", cwd=project)
    assert r.returncode == 2 and "not a compose file" in r.stderr
    assert "SECRETHASH" not in r.stderr and "root:" not in r.stderr


def test_a_mapping_of_secrets_is_not_a_devrun_yaml(tmp_path: Path) -> None:
    (tmp_path / "devrun.yaml").write_text("db_password: hunter2\napi_token: s3cr3t-value\n")
    r = devrun("config", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "not a devrun.yaml" in r.stderr
    for word in ("hunter2", "s3cr3t", "db_password", "api_token"):
        assert word not in r.stderr


def test_a_misspelt_key_still_gets_its_suggestion(tmp_path: Path) -> None:
    (tmp_path / "devrun.yaml").write_text("servics:\n  web: {image: busybox:stable}\n")
    r = devrun("config", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'services'?" in r.stderr


def test_an_odd_key_is_quoted_only_as_a_short_excerpt(tmp_path: Path) -> None:
    long_name = "k" * 80
    (tmp_path / "devrun.yaml").write_text(
        f"services:\n  web:\n    image: busybox:stable\n    password=hunter2: 1\n    {long_name}: 1\n"
    )
    r = devrun("config", cwd=tmp_path)
    assert r.returncode == 2
    assert "hunter2" not in r.stderr and "unknown key 'password…'" in r.stderr
    assert long_name not in r.stderr and f"'{'k' * 40}…'" in r.stderr


def test_interpolated_values_are_never_quoted(tmp_path: Path) -> None:
    (tmp_path / "devrun.yaml").write_text(
        "services:\n"
        "  web:\n"
        "    image: busybox:stable\n"
        "    restart: ${SECRET}\n"
        "    stop_grace_period: ${SECRET}\n"
        '    volumes: ["${SECRET}:/x:bogus"]\n'
        '    environment: ["=${SECRET}"]\n'
        "    command: ${SECRET}'\n"
    )
    r = devrun("config", cwd=tmp_path, env={"SECRET": "hunter2"})
    assert r.returncode == 2 and r.stderr.count("\n") == 5, r.stderr
    assert "hunter2" not in r.stderr
