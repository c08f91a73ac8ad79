"""compose.yaml -> devrun services, as plain data. Pure: the caller reads the
file and writes the result. Whatever has no devrun equivalent is returned as
a Skipped note with the reason, never dropped silently."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")

# copied as written: devrun reads the same short and long forms
SAME_KEYS = (
    "image",
    "command",
    "entrypoint",
    "environment",
    "working_dir",
    "user",
    "init",
    "stop_signal",
    "stop_grace_period",
    "tty",
    "labels",
)
BUILD_KEYS = ("context", "dockerfile", "args", "target")
HEALTH_KEYS = ("test", "interval", "timeout", "retries", "start_period")
WATCH_ACTIONS = ("sync", "rebuild", "restart", "sync+restart", "sync+exec")

# why devrun leaves these out, shown next to each skipped key
SERVICE_REASONS = {
    "networks": "devrun puts every service on one project network, reachable by service name",
    "deploy": "replicas and resource limits are not part of a dev loop",
    "profiles": "devrun starts the services you name: `devrun up SERVICE...`",
    "secrets": "devrun has no secrets; use env_file (values are masked in output)",
    "configs": "devrun has no configs; bind-mount the file under volumes",
    "extends": "devrun has no extends; copy the shared keys",
    "container_name": "devrun names containers <project>-<service>",
    "expose": "services on the project network reach each other's ports already",
    "privileged": "devrun refuses it unless the config sets allow_privileged: true; add both if you need it",
    "cap_add": "devrun refuses it unless the config sets allow_cap_add: true; add both if you need it",
    "network_mode": "devrun refuses host networking unless allow_host_network: true; add both if you need it",
    "platform": "devrun builds and runs for the engine's platform",
    "pull_policy": "devrun pulls only images it does not have",
}
TOP_REASONS = {
    "version": "obsolete in compose too",
    "networks": "devrun makes one network per project",
    "secrets": "devrun has no secrets; use env_file",
    "configs": "devrun has no configs; bind-mount the file",
    "include": "devrun reads one file; merge the included services in",
}


def compose_key_reason(key: str, top_level: bool) -> str | None:
    """Why a compose key written into a devrun.yaml is not devrun's (one line),
    or None when it is not a compose key devrun knows a reason for."""
    if not top_level and key == "develop":
        return "devrun's watch rules are the service's `watch:` list (`devrun init` translates develop.watch)"
    reasons = TOP_REASONS if top_level else SERVICE_REASONS
    return reasons.get(key) or (_reason(key, reasons) if key.startswith("x-") else None)


@dataclass(frozen=True)
class Skipped:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Translation:
    name: str | None = None
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


def translate(compose: Any) -> Translation:
    out = Translation()
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        out.skipped.append(Skipped("(file)", "no `services:` mapping found"))
        return out
    for key, value in compose.items():
        if key == "services":
            for name, svc in value.items():
                out.services[str(name)] = _service(str(name), svc, out.skipped)
        elif key == "name" and isinstance(value, str):
            out.name = value
        elif key == "volumes" and isinstance(value, dict):
            out.volumes = {str(k): _volume(str(k), v, out.skipped) for k, v in value.items()}
        else:
            out.skipped.append(Skipped(str(key), _reason(str(key), TOP_REASONS)))
    return out


def _reason(key: str, reasons: dict[str, str]) -> str:
    if key.startswith("x-"):
        return "extension fields are kept by compose for YAML anchors; devrun ignores them"
    return reasons.get(key, "no devrun equivalent")


def _volume(name: str, spec: Any, skipped: list[Skipped]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in (spec or {}).items() if isinstance(spec, dict) else ():
        if key in ("name", "labels"):
            kept[key] = value
        else:
            skipped.append(Skipped(f"volumes.{name}.{key}", "devrun creates plain local volumes"))
    return kept


def _service(name: str, svc: Any, skipped: list[Skipped]) -> dict[str, Any]:
    where = f"services.{name}"
    out: dict[str, Any] = {}
    if not isinstance(svc, dict):
        skipped.append(Skipped(where, "not a mapping"))
        return out
    for key, value in svc.items():
        at = f"{where}.{key}"
        if key in SAME_KEYS:
            out[key] = value
        elif key == "build":
            out[key] = _pick(value, BUILD_KEYS, at, skipped) if isinstance(value, dict) else value
        elif key == "env_file":
            out[key] = _env_files(value)
        elif key == "ports":
            out[key] = [
                p
                for p in (_port(p, f"{at}[{i}]", skipped) for i, p in enumerate(value or []))
                if p is not None
            ]
        elif key == "volumes":
            out[key] = [
                v
                for v in (_mount(v, f"{at}[{i}]", skipped) for i, v in enumerate(value or []))
                if v is not None
            ]
        elif key == "depends_on":
            out[key] = _depends(value, at, skipped)
        elif key == "healthcheck":
            check = _healthcheck(value, at, skipped)
            if check:
                out[key] = check
        elif key == "restart":
            out[key] = _restart(value, at, skipped)
        elif key == "develop":
            out.update(_develop(value, at, skipped))
        else:
            skipped.append(Skipped(at, _reason(key, SERVICE_REASONS)))
    return out


def _pick(spec: dict[str, Any], keys: tuple[str, ...], at: str, skipped: list[Skipped]) -> dict[str, Any]:
    for key in spec:
        if key not in keys:
            skipped.append(Skipped(f"{at}.{key}", "not supported by devrun"))
    return {k: v for k, v in spec.items() if k in keys}


def _env_files(value: Any) -> Any:
    # long form: [{path: a.env, required: false}]
    if isinstance(value, list):
        return [v["path"] if isinstance(v, dict) and "path" in v else v for v in value]
    return value


def _port(spec: Any, at: str, skipped: list[Skipped]) -> Any:
    # a range has a '-' between digits; ${VAR:-default} is interpolation, kept as written
    if isinstance(spec, str) and re.search(r"\d-\d", re.sub(r"\$\{[^}]*\}", "", spec.split("/")[0])):
        skipped.append(Skipped(at, f"port range {spec!r}: devrun publishes single ports; list each one"))
        return None
    if isinstance(spec, dict):
        kept = _pick(spec, ("target", "published", "host_ip", "protocol"), at, skipped)
        if isinstance(kept.get("published"), str) and kept["published"].isdigit():
            kept["published"] = int(kept["published"])
        return kept
    return spec


def _mount(spec: Any, at: str, skipped: list[Skipped]) -> Any:
    if isinstance(spec, dict):
        if spec.get("type") not in ("bind", "volume"):
            skipped.append(
                Skipped(at, f"mount type {spec.get('type')!r}: devrun mounts binds and named volumes")
            )
            return None
        kept = _pick(spec, ("type", "source", "target", "read_only"), at, skipped)
        return kept
    if isinstance(spec, str) and spec.count(":") == 2:
        src, dst, mode = spec.split(":")
        options = mode.split(",")
        kept = [o for o in options if o in ("ro", "rw")]
        if kept != options:
            skipped.append(Skipped(at, f"mount options {mode!r} in {spec!r}: devrun reads only ro or rw"))
            return ":".join([src, dst, *kept[:1]])
    return spec


def _depends(value: Any, at: str, skipped: list[Skipped]) -> Any:
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for dep, spec in value.items():
        cond = (
            (spec or {}).get("condition", "service_started") if isinstance(spec, dict) else "service_started"
        )
        if cond not in ("service_started", "service_healthy"):
            skipped.append(
                Skipped(
                    f"{at}.{dep}.condition",
                    f"{cond}: devrun waits for started or healthy; using service_started",
                )
            )
            cond = "service_started"
        for extra in (spec or {}) if isinstance(spec, dict) else ():
            if extra != "condition":
                skipped.append(Skipped(f"{at}.{dep}.{extra}", "not supported by devrun"))
        out[str(dep)] = {"condition": cond}
    return out


def _healthcheck(value: Any, at: str, skipped: list[Skipped]) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("disable"):
        return None
    return _pick(value, HEALTH_KEYS, at, skipped)


def _restart(value: Any, at: str, skipped: list[Skipped]) -> Any:
    if value == "unless-stopped":
        skipped.append(Skipped(at, "unless-stopped: devrun stops everything on exit; using always"))
        return "always"
    if isinstance(value, str) and value.startswith("on-failure:"):
        skipped.append(
            Skipped(at, f"{value}: devrun retries with capped backoff, without a count; using on-failure")
        )
        return "on-failure"
    return value


def _develop(value: Any, at: str, skipped: list[Skipped]) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    rules: list[dict[str, Any]] = []
    for key, spec in value.items():
        if key != "watch":
            skipped.append(Skipped(f"{at}.{key}", "no devrun equivalent"))
            continue
        for i, rule in enumerate(spec or []):
            translated = _watch_rule(rule, f"{at}.watch[{i}]", skipped)
            if translated:
                rules.append(translated)
    return {"watch": rules} if rules else {}


def _watch_rule(rule: Any, at: str, skipped: list[Skipped]) -> dict[str, Any] | None:
    if not isinstance(rule, dict) or rule.get("action") not in WATCH_ACTIONS:
        action = rule.get("action") if isinstance(rule, dict) else rule
        skipped.append(Skipped(at, f"action {action!r} has no devrun equivalent"))
        return None
    out: dict[str, Any] = {"path": rule.get("path"), "action": rule["action"]}
    for key, value in rule.items():
        if key in ("path", "action"):
            continue
        if key in ("target", "ignore", "initial_sync"):
            out[key] = value
        elif key == "exec" and isinstance(value, dict):
            out["exec"] = value.get("command")
            for extra in value:
                if extra != "command":
                    skipped.append(
                        Skipped(
                            f"{at}.exec.{extra}",
                            "devrun runs exec commands as the container's user, in its working_dir",
                        )
                    )
        elif key == "include":
            skipped.append(
                Skipped(f"{at}.include", "devrun rules have no include; use globs in path (e.g. src/**/*.py)")
            )
        else:
            skipped.append(Skipped(f"{at}.{key}", "not supported by devrun"))
    return out
