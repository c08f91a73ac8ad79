"""Compose's merge rules over data from `yaml_source` (positions kept).

Used for override files (`-f a -f b`, compose.override.yaml), `include` and
`extends`. Mappings merge key by key, lists append, scalars are replaced;
command, entrypoint and healthcheck.test are replaced whole; `!reset` removes
a key and `!override` replaces without merging. Lists compose keeps unique
(ports, volumes by target, secrets and configs by target, ...) drop the
earlier of two entries with the same key, as compose does."""

from __future__ import annotations

import os
from typing import Any

from devrun.config.yaml_source import Override, PosDict, PosList, Reset

# the short forms compose accepts for these, made long before merging so a
# list in one file merges with a mapping in the other
_KEY_VALUE = ("environment", "labels", "annotations", "sysctls")
_REPLACED = ("command", "entrypoint")
_UNIQUE_SCALARS = (
    "cap_add", "cap_drop", "dns", "dns_opt", "dns_search", "expose", "profiles",
    "security_opt", "tmpfs", "devices", "extra_hosts", "group_add", "links",
)  # fmt: skip


def key_value_map(value: Any) -> Any:
    """["A=1", "B"] -> {"A": "1", "B": None}; a mapping stays (positions kept)."""
    if not isinstance(value, list):
        return value
    out = PosDict()
    out.pos = getattr(value, "pos", None)
    ats = getattr(value, "at", [None] * len(value))
    for item, at in zip(value, ats, strict=True):
        if not isinstance(item, str):
            return value  # the model says what is wrong with it
        key, sep, val = item.partition("=")
        out[key] = val if sep else None
        if at:
            out.at[key] = out.key_at[key] = at
    return out


def _like(value: Any, data: dict[str, Any]) -> PosDict:
    out = PosDict(data)
    at = getattr(value, "pos", None)
    out.pos = at
    if at:
        out.at = dict.fromkeys(data, at)
    return out


def canonical_service(svc: Any) -> Any:
    """The long forms of a service's keys whose short forms would not merge."""
    if not isinstance(svc, dict):
        return svc
    for key in _KEY_VALUE:
        if key in svc:
            svc[key] = key_value_map(svc[key])
    build = svc.get("build")
    if isinstance(build, str):
        svc["build"] = _like(build, {"context": build})
    elif isinstance(build, dict) and "args" in build:
        build["args"] = key_value_map(build["args"])
    if isinstance(svc.get("depends_on"), list):
        items = svc["depends_on"]
        out = PosDict({str(d): PosDict({"condition": "service_started"}) for d in items})
        out.at = {str(d): a for d, a in zip(items, getattr(items, "at", []), strict=False) if a}
        svc["depends_on"] = out
    if isinstance(svc.get("networks"), list):
        nets = svc["networks"]
        out = PosDict({str(n): None for n in nets})
        out.at = {str(n): a for n, a in zip(nets, getattr(nets, "at", []), strict=False) if a}
        svc["networks"] = out
    for key in ("env_file", "tmpfs", "dns", "dns_search"):
        if isinstance(svc.get(key), str):
            one = PosList([svc[key]])
            one.at = [getattr(svc, "at", {}).get(key)]
            svc[key] = one
    if isinstance(svc.get("extends"), str):
        svc["extends"] = _like(svc["extends"], {"service": svc["extends"]})
    return svc


def merge(base: Any, over: Any, path: tuple[str, ...] = ()) -> Any:
    """`over` merged onto `base` by compose's rules. Neither is modified."""
    if isinstance(over, Override):
        return over.value
    if isinstance(over, Reset):
        return over
    if len(path) == 3 and path[0] == "services" and path[2] in _REPLACED:
        return over
    if path[-2:] == ("healthcheck", "test") or (path and str(path[-1]).startswith("x-")):
        # extension fields are replaced whole, at any depth, as compose does
        return _plain(over)
    if isinstance(base, dict) and isinstance(over, dict):
        out = PosDict(base)
        out.pos = getattr(base, "pos", None)
        out.at = dict(getattr(base, "at", {}))
        out.key_at = dict(getattr(base, "key_at", {}))
        for key, value in over.items():
            if isinstance(value, Reset):
                out.pop(key, None)
                continue
            out[key] = merge(base[key], value, (*path, key)) if key in base else _plain(value)
            if key in getattr(over, "at", {}):
                out.at[key] = over.at[key]
            if key in getattr(over, "key_at", {}):
                out.key_at[key] = over.key_at[key]
        return out
    if isinstance(base, list) and isinstance(over, list):
        out = PosList([*base, *(_plain(v) for v in over)])
        out.at = [*getattr(base, "at", [None] * len(base)), *getattr(over, "at", [None] * len(over))]
        out.pos = getattr(over, "pos", None)
        return out
    return _plain(over)


def _plain(value: Any) -> Any:
    """A value with its `!override`/`!reset` markers resolved (nothing to merge onto)."""
    if isinstance(value, Override):
        return _plain(value.value)
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if isinstance(v, Reset)]:
            del value[k]
        for k, v in value.items():
            value[k] = _plain(v)
    elif isinstance(value, list):
        value[:] = [_plain(v) for v in value]
    return value


def unique_lists(svc: dict[str, Any]) -> None:
    """Keep the later of two list entries compose considers the same."""
    keyers = {
        "ports": _port_key,
        "volumes": _volume_key,
        "secrets": lambda v: _ref_key(v, "/run/secrets/"),
        "configs": lambda v: _ref_key(v, "/"),
        "env_file": lambda v: v.get("path") if isinstance(v, dict) else v,
        **{k: repr for k in _UNIQUE_SCALARS},
    }
    for key, keyer in keyers.items():
        items = svc.get(key)
        if not isinstance(items, list):
            continue
        ats = list(getattr(items, "at", [None] * len(items)))
        slots: dict[Any, int] = {}
        kept: list[Any] = []
        kept_at: list[Any] = []
        for item, at in zip(items, ats, strict=True):
            k = keyer(item)
            if k in slots:
                kept[slots[k]], kept_at[slots[k]] = item, at
            else:
                slots[k] = len(kept)
                kept.append(item)
                kept_at.append(at)
        out = PosList(kept)
        out.at, out.pos = kept_at, getattr(items, "pos", None)
        svc[key] = out


def _port_key(value: Any) -> Any:
    if isinstance(value, dict):
        return (value.get("host_ip"), str(value.get("published")), value.get("target"), value.get("protocol"))
    return repr(value)


def _volume_key(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("target")
    if isinstance(value, str):
        parts = value.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return repr(value)


def _ref_key(value: Any, folder: str) -> Any:
    if isinstance(value, dict):
        return value.get("target") or f"{folder}{value.get('source')}"
    return f"{folder}{value}"


def absolute_paths(svc: dict[str, Any], folder: str) -> None:
    """Relative paths of a service written in another folder's file (an
    included or extended one) made absolute against that folder."""

    def fix(path: Any) -> Any:
        if not isinstance(path, str) or os.path.isabs(path) or "://" in path or path.startswith("~"):
            return path
        return os.path.normpath(os.path.join(folder, path))

    build = svc.get("build")
    if isinstance(build, dict) and "context" in build:
        build["context"] = fix(build["context"])
    env_files = svc.get("env_file")
    if isinstance(env_files, list):
        for i, ef in enumerate(env_files):
            if isinstance(ef, dict):
                ef["path"] = fix(ef.get("path"))
            else:
                env_files[i] = fix(ef)
    for i, vol in enumerate(svc.get("volumes") or []):
        if isinstance(vol, dict) and vol.get("type", "bind") == "bind" and "source" in vol:
            vol["source"] = fix(vol["source"])
        elif isinstance(vol, str) and vol.startswith("."):
            src, sep, rest = vol.partition(":")
            svc["volumes"][i] = fix(src) + sep + rest
    develop = svc.get("develop") or svc.get("x-develop")
    for rule in (develop or {}).get("watch") or [] if isinstance(develop, dict) else []:
        if isinstance(rule, dict) and "path" in rule:
            rule["path"] = fix(rule["path"])
