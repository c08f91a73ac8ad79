"""A merged compose project -> the data devrun's model validates, plus one
note for each key devrun reads but does not apply. Pure.

Keys the model shares with compose pass as written (they mean the same);
compose's long forms devrun spells differently are rewritten here; what
devrun cannot do is left out with a note naming the key, so nothing is
dropped silently."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from devrun.config.yaml_source import PosDict, PosList
from devrun.errors import ConfigError, Problem
from devrun.watch.ignore import dockerignore_as_gitignore

# service keys devrun's model reads with compose's meaning
SERVICE_KEYS = {
    "image", "command", "entrypoint", "environment", "env_file", "working_dir", "user",
    "init", "stop_signal", "stop_grace_period", "tty", "labels", "privileged", "cap_add",
    "profiles", "container_name", "hostname", "networks", "secrets", "configs", "tmpfs",
    "expose", "depends_on", "shm_size", "ulimits", "security_opt", "devices", "mem_limit",
    "mem_reservation", "cpus", "pids_limit", "extra_hosts", "dns", "dns_search", "sysctls", "read_only",
    "post_start", "pre_stop",
}  # fmt: skip
BUILD_KEYS = ("context", "dockerfile", "args", "target", "dockerfile_inline")
HEALTH_KEYS = ("test", "interval", "timeout", "retries", "start_period", "start_interval", "disable")
# compose's defaults, which differ from devrun.yaml's quicker ones
HEALTH_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}
WATCH_ACTIONS = ("sync", "rebuild", "restart", "sync+restart", "sync+exec")
TOP_KEYS = ("name", "services", "volumes", "networks", "secrets", "configs")

# why a key is not applied, shown in its note
REASONS = {
    "deploy": "swarm settings; devrun applies deploy.resources limits only",
    "version": "obsolete in compose too",
    "models": "devrun does not run models",
    "provider": "devrun does not run providers",
    "logging": "devrun streams logs itself",
    "platform": "devrun builds and runs for the engine's platform",
    "pull_policy": "devrun pulls only images it does not have",
}
# deploy.resources -> the service keys that set the same engine limits
DEPLOY_LIMITS = {("limits", "cpus"): "cpus", ("limits", "memory"): "mem_limit", ("limits", "pids"): "pids_limit",
                 ("reservations", "memory"): "mem_reservation"}  # fmt: skip
MOUNT_TYPES = ("bind", "volume", "tmpfs")
LOCAL_PORTS_NOTE = (
    "ports: published on 127.0.0.1 only, where compose would publish on 0.0.0.0; "
    'write the address ("0.0.0.0:8080:80") for a port other machines must reach'
)


def _unaddressed(port: Any) -> bool:
    """A port entry that names no host address (compose publishes it on every interface)."""
    if isinstance(port, dict):
        return not port.get("host_ip")
    m = _PORT.match(port.strip()) if isinstance(port, str) else None
    return isinstance(port, int) or bool(m and not m["ip"])


def _where(container: Any, key: str | int) -> str:
    if isinstance(container, list):
        ats = getattr(container, "at", None) or []
        at = ats[key] if isinstance(key, int) and key < len(ats) else None
    else:
        at = getattr(container, "key_at", {}).get(key) or getattr(container, "at", {}).get(key)
    return f"{at[0]}:{at[1]}" if at else ""


class _Notes:
    def __init__(self, out: list[str]):
        self.out = out

    def add(self, container: Any, key: str | int, path: str, why: str) -> None:
        where = _where(container, key)
        self.out.append(f"{where + ': ' if where else ''}{path}: not applied ({why})")


def active(svc: Any, name: str, profiles: set[str], named: set[str]) -> bool:
    wanted = svc.get("profiles") if isinstance(svc, dict) else None
    if not wanted:
        return True
    return name in named or "*" in profiles or bool(profiles & {str(p) for p in wanted})


def to_devrun(
    merged: dict[str, Any], profiles: set[str], named: set[str], notes_out: list[str]
) -> dict[str, Any]:
    notes = _Notes(notes_out)
    out: dict[str, Any] = PosDict()
    out.at, out.key_at = dict(getattr(merged, "at", {})), dict(getattr(merged, "key_at", {}))
    _extras(merged.get("x-devrun"), out, DEVRUN_TOP, skip=("strict",))
    for key, value in merged.items():
        if key.startswith("x-") or key == "include":
            continue
        if key not in TOP_KEYS:
            notes.add(merged, key, key, REASONS.get(key, "devrun has no such key"))
            continue
        out[key] = value
    services = merged.get("services")
    if isinstance(services, dict):
        kept = PosDict()
        kept.at, kept.key_at = dict(getattr(services, "at", {})), dict(getattr(services, "key_at", {}))
        for name, svc in services.items():
            if active(svc, name, profiles, named):
                kept[name] = _service(svc, f"services.{name}", notes) if isinstance(svc, dict) else svc
        out["services"] = kept
        if any(_unaddressed(p) for s in kept.values() if isinstance(s, dict) for p in s.get("ports") or []):
            notes_out.append(LOCAL_PORTS_NOTE)
        _needs_inactive(kept, set(services) - set(kept))
    for section, allowed in (
        ("volumes", ("name", "labels")),
        ("networks", ("name", "driver", "external", "internal", "attachable", "labels", "ipam", "driver_opts", "enable_ipv6")),
        ("secrets", ("name", "file", "environment", "content", "external")),
        ("configs", ("name", "file", "environment", "content", "external")),
    ):  # fmt: skip
        for name, spec in (out.get(section) or {}).items():
            if isinstance(spec, dict):
                out[section][name] = _pick(
                    spec, allowed, f"{section}.{name}", notes, "devrun creates plain local ones"
                )
    for section in ("secrets", "configs"):
        for name, spec in (out.get(section) or {}).items():
            if isinstance(spec, dict) and spec.get("external"):
                notes.add(
                    spec, "external", f"{section}.{name}.external", "swarm only: not mounted into containers"
                )
    return out


def _needs_inactive(kept: dict[str, Any], inactive: set[str]) -> None:
    """A started service that needs one whose profiles are off: compose refuses it too."""
    problems = []
    for name, svc in kept.items():
        deps = svc.get("depends_on") if isinstance(svc, dict) else None
        for dep, spec in (deps or {}).items() if isinstance(deps, dict) else ():
            if dep in inactive and not (isinstance(spec, dict) and spec.get("required") is False):
                at = getattr(deps, "key_at", {}).get(dep) or getattr(deps, "at", {}).get(dep)
                where = (at[0], at[1], at[2]) if at else ("", None, None)
                msg = f"'{dep}' has profiles that are not active; add --profile or COMPOSE_PROFILES"
                problems.append(Problem(*where, f"services.{name}.depends_on.{dep}", msg))
    if problems:
        raise ConfigError(problems)


def _pick(spec: dict[str, Any], keys: tuple[str, ...], path: str, notes: _Notes, why: str) -> dict[str, Any]:
    out = PosDict({k: v for k, v in spec.items() if k in keys})
    out.at, out.key_at = dict(getattr(spec, "at", {})), dict(getattr(spec, "key_at", {}))
    for key in spec:
        if key not in keys and not key.startswith("x-"):
            notes.add(spec, key, f"{path}.{key}", why)
    return out


def _service(svc: dict[str, Any], path: str, notes: _Notes) -> dict[str, Any]:
    out = PosDict()
    out.at, out.key_at, out.pos = dict(svc.at), dict(svc.key_at), svc.pos
    for key, value in svc.items():
        at = f"{path}.{key}"
        if key in SERVICE_KEYS:
            out[key] = value
        elif key == "deploy" and isinstance(value, dict):
            _deploy(value, out, at, notes)
        elif key == "build":
            out[key] = (
                _pick(
                    value,
                    BUILD_KEYS,
                    at,
                    notes,
                    "devrun builds with context, dockerfile, dockerfile_inline, args, target",
                )
                if isinstance(value, dict)
                else value
            )
        elif key == "ports":
            ports = PosList()
            for item, item_at in zip(
                value or [], getattr(value, "at", None) or [None] * len(value or []), strict=True
            ):
                expanded = _ports(item)
                ports.extend(expanded)
                ports.at.extend([item_at] * len(expanded))
            out[key] = ports
        elif key == "volumes":
            mounts = PosList()
            for i, v in enumerate(value or []):
                if isinstance(v, dict) and v.get("type") not in MOUNT_TYPES:
                    notes.add(
                        value, i, f"{at}[{i}]", f"devrun mounts binds, volumes and tmpfs, not {v.get('type')}"
                    )
                    continue
                mounts.append(_mount(v, f"{at}[{i}]", notes))
                mounts.at.append((getattr(value, "at", None) or [None] * len(value))[i])
            out[key] = mounts
        elif key == "healthcheck" and isinstance(value, dict):
            out[key] = _pick(value, HEALTH_KEYS, at, notes, "not a healthcheck key")
            for k, v in HEALTH_DEFAULTS.items():
                out[key].setdefault(k, v)
        elif key == "restart":
            out[key] = value  # the engine's own policy, as compose sets it
        elif key == "network_mode":
            if value in ("bridge", "host", "none") or str(value).startswith("service:"):
                out[key] = value
            else:
                notes.add(
                    svc, key, at, "devrun joins the project network; sharing a container's is not done yet"
                )
        elif key in ("develop", "x-develop") and isinstance(value, dict):
            out["watch"] = _joined(out.get("watch") or PosList(), _watch(value, at, notes))
        elif key == "x-devrun":
            _extras(value, out, DEVRUN_SERVICE)
        elif key.startswith("x-"):
            continue
        else:
            notes.add(svc, key, at, REASONS.get(key, "not done by devrun yet"))
    shared = str(out.get("network_mode") or "")
    for key in ("ports", "hostname") if shared.startswith("service:") else ():
        if out.pop(key, None):
            notes.add(
                svc,
                key,
                f"{path}.{key}",
                f"the service shares {shared[8:]}'s network: set it on {shared[8:]}",
            )
    if "x-devrun.watch" in out:
        out["watch"] = _joined(out.get("watch") or PosList(), out.pop("x-devrun.watch") or PosList())
    if "debounce" in out:
        # x-devrun's debounce on the service: the quiet time of each rule that sets none
        debounce = out.pop("debounce")
        for rule in out.get("watch") or []:
            if isinstance(rule, dict):
                rule.setdefault("debounce", debounce)
    restarts = any(
        isinstance(rule, dict) and rule.get("action") in ("restart", "sync+restart")
        for rule in out.get("watch") or []
    )
    if "restart_mode" not in out and not restarts:
        # the app stays PID 1, as compose runs it (s6-overlay images, for one, refuse
        # anything else): the in-place restart wrapper only where a rule restarts
        out["restart_mode"] = "container"
    if "init" not in svc:
        # compose's default is off; the in-place restart wrapper needs docker's init to reap
        out["init"] = out.get("restart_mode") != "container"
    return out


def _joined(first: Any, second: Any) -> PosList:
    """Two lists as one, each item keeping where it was written."""
    out = PosList([*first, *second]) if isinstance(second, list) else PosList([*first, second])
    ats = [*(getattr(first, "at", None) or [None] * len(first))]
    ats += getattr(second, "at", None) or [None] * (len(out) - len(ats))
    out.at = ats
    return out


# devrun's own extras a compose file may carry under `x-devrun` (compose ignores x- keys)
DEVRUN_TOP = ("strict", "poll", "mounts")
DEVRUN_SERVICE = ("restart_mode", "debounce", "watch")
DEVRUN_RULE = ("action", "signal", "exec", "debounce")


def _extras(extras: Any, out: dict[str, Any], allowed: tuple[str, ...], skip: tuple[str, ...] = ()) -> None:
    """`x-devrun` keys copied onto devrun's data with their positions; a key
    devrun does not know goes as `x-devrun.KEY`, which the model refuses at its line."""
    if not isinstance(extras, dict):
        return
    for key, value in extras.items():
        if key in skip:
            continue
        name = key if key in allowed and key != "watch" else f"x-devrun.{key}"
        out[name] = value
        for attr in ("at", "key_at"):
            where = getattr(extras, attr, {}).get(key)
            if where and hasattr(out, attr):
                getattr(out, attr)[name] = where


def _deploy(deploy: dict[str, Any], out: dict[str, Any], at: str, notes: _Notes) -> None:
    """deploy.resources limits become the engine limits they set; the swarm rest is noted."""
    for key, value in deploy.items():
        if key == "resources" and isinstance(value, dict):
            for kind, limits in value.items():
                for name, v in limits.items() if isinstance(limits, dict) else ():
                    target = DEPLOY_LIMITS.get((kind, name))
                    if target:
                        out.setdefault(target, v)
                    else:
                        notes.add(
                            limits,
                            name,
                            f"{at}.resources.{kind}.{name}",
                            "swarm only (devices: GPUs are not reserved)",
                        )
        elif not (key == "replicas" and value == 1):
            notes.add(deploy, key, f"{at}.{key}", REASONS["deploy"])


_PORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:]+\]|[^:\[\]]*):)??(?:(?P<pub>\d+(?:-\d+)?)?:)?(?P<target>\d+(?:-\d+)?)(?P<proto>/\w+)?$"
)


def _ports(item: Any) -> list[Any]:
    """A short port with ranges becomes one entry per port, as compose expands it."""
    if isinstance(item, dict):
        kept = {k: v for k, v in item.items() if k in ("target", "published", "host_ip", "protocol")}
        if isinstance(kept.get("published"), str) and kept["published"].isdigit():
            kept["published"] = int(kept["published"])
        return [kept]
    if not isinstance(item, str):
        return [item]
    m = _PORT.match(item.strip())
    if not m or "-" not in (m["pub"] or "") + m["target"]:
        return [item]
    lo, _, hi = m["target"].partition("-")
    targets = list(range(int(lo), int(hi or lo) + 1))
    if m["pub"]:
        plo, _, phi = m["pub"].partition("-")
        pubs: list[int | None] = list(range(int(plo), int(phi or plo) + 1))
    else:
        pubs = [None] * len(targets)
    if len(pubs) != len(targets):
        return [item]  # the model refuses it with its message
    ip = f"{m['ip']}:" if m["ip"] is not None else ""
    return [
        f"{ip}{p if p is not None else ''}{':' if p is not None or ip else ''}{t}{m['proto'] or ''}"
        for p, t in zip(pubs, targets, strict=True)
    ]


def _mount(spec: Any, at: str, notes: _Notes) -> Any:
    if not isinstance(spec, dict):
        return spec
    out: dict[str, Any] = {k: v for k, v in spec.items() if k in ("type", "source", "target", "read_only")}
    options: list[str] = []
    bind = spec.get("bind")
    if isinstance(bind, dict):
        options += [str(bind[k]) for k in ("selinux", "propagation") if bind.get(k)]
        # as compose: a `bind:` section without create_host_path mounts only what exists
        out["create_host_path"] = bool(bind.get("create_host_path"))
        for key in bind:
            if key not in ("selinux", "propagation", "create_host_path"):
                notes.add(
                    bind,
                    key,
                    f"{at}.bind.{key}",
                    "devrun mounts binds with selinux, propagation, create_host_path",
                )
    if isinstance(spec.get("volume"), dict) and spec["volume"].get("nocopy"):
        options.append("nocopy")
    tmpfs = spec.get("tmpfs")
    if isinstance(tmpfs, dict):
        options += [f"{k}={tmpfs[k]}" for k in ("size", "mode") if tmpfs.get(k) is not None]
    if spec.get("consistency"):
        options.append(str(spec["consistency"]))
    if options:
        out["options"] = options
    for key in spec:
        if key not in ("type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"):
            notes.add(spec, key, f"{at}.{key}", "devrun mounts binds, volumes and tmpfs")
    return out


def compose_ignores(patterns: Any) -> Any:
    """A compose rule's `ignore` (.dockerignore syntax: relative to the rule's
    path and anchored there, `./dir` as `dir`; `*.foo` matches only at its top)
    as the gitignore-style patterns devrun's rules read."""
    items = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        return patterns  # the model says what is wrong
    cleaned = [("!" if p.startswith("!") else "") + posixpath.normpath(p.removeprefix("!")) for p in items]
    return dockerignore_as_gitignore(cleaned)


def _watch(develop: dict[str, Any], at: str, notes: _Notes) -> PosList:
    rules = PosList()
    written = develop.get("watch")
    rules.at = list(getattr(written, "at", None) or [None] * len(written or []))
    for key in develop:
        if key != "watch":
            notes.add(develop, key, f"{at}.{key}", "not a watch setting devrun reads")
    for i, rule in enumerate(develop.get("watch") or []):
        where = f"{at}.watch[{i}]"
        if not isinstance(rule, dict):
            rules.append(rule)
            continue
        out = PosDict(
            {k: v for k, v in rule.items() if k in ("path", "action", "target", "ignore", "initial_sync")}
        )
        out.at, out.key_at = dict(rule.at), dict(rule.key_at)
        if "ignore" in out:
            out["ignore"] = compose_ignores(out["ignore"])
        # compose syncs nothing when watching starts unless asked to
        out.setdefault("initial_sync", False)
        exec_ = rule.get("exec")
        if isinstance(exec_, dict) and exec_.get("command") is not None:
            out["exec"] = exec_["command"]
        _extras(rule.get("x-devrun"), out, DEVRUN_RULE)
        if "action" in rule.get("x-devrun", {}) and out.get("action") not in (
            "sync",
            "sync+restart",
            "sync+exec",
        ):
            out.pop("target", None)  # compose's sync target, for compose only
        if "action" in rule.get("x-devrun", {}) and out.get("action") not in ("exec", "sync+exec"):
            out.pop("exec", None)  # compose's exec, for compose only
        for key in rule:
            if key not in ("path", "action", "target", "ignore", "initial_sync", "exec", "x-devrun"):
                notes.add(rule, key, f"{where}.{key}", "devrun rules have no such key; use globs in path")
        rules.append(out)
    return rules
