"""Printable views of the config: the resolved config and the JSON Schema."""

from __future__ import annotations

from typing import Any

from devrun.config.loader import LoadedConfig
from devrun.config.model import Project, looks_secret

# the schema names itself; devrun.yaml files point at a copy that exists (`devrun init` writes one)
SCHEMA_ID = "urn:devrun:devrun.schema.json"
MASK = "********"


def mask_env(env: dict[str, str | None], show_secrets: bool = False) -> dict[str, str | None]:
    if show_secrets:
        return dict(env)
    return {k: (MASK if v and looks_secret(k) else v) for k, v in env.items()}


def resolved_dict(cfg: LoadedConfig, *, show_secrets: bool = False) -> dict[str, Any]:
    data = cfg.project.model_dump(mode="json", exclude_defaults=False)
    data["name"] = cfg.name
    for svc in data["services"].values():
        svc["environment"] = mask_env(svc["environment"], show_secrets)
    return data


def json_schema() -> dict[str, Any]:
    # validation mode describes what may be written, not the normalised shape;
    # short forms (strings for ports, mounts, commands) are accepted too
    schema = Project.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "devrun.yaml"
    schema["patternProperties"] = {"^x-": {}}
    _loosen(schema)
    return schema


_SHORT_FORMS: dict[str, list[dict[str, Any]]] = {
    "ports": [{"type": "string"}, {"type": "integer"}],
    "volumes": [{"type": "string"}],
    "command": [{"type": "string"}],
    "entrypoint": [{"type": "string"}],
    "exec": [{"type": "string"}],
    "path": [{"type": "string"}],
    "ignore": [{"type": "string"}],
    "env_file": [{"type": "string"}],
    "build": [{"type": "string"}],
    "environment": [{"type": "array", "items": {"type": "string"}}],
    "labels": [{"type": "array", "items": {"type": "string"}}],
    "depends_on": [{"type": "array", "items": {"type": "string"}}],
    "test": [{"type": "string"}],
    "dns": [{"type": "string"}],
    "dns_search": [{"type": "string"}],
    "extra_hosts": [{"type": "object"}],
    "sysctls": [{"type": "array", "items": {"type": "string"}}],
}
_DURATIONS = {"stop_grace_period", "debounce", "interval", "timeout", "start_period"}


def _loosen(schema: dict[str, Any]) -> None:
    """Add the short forms the before-validators accept to the schema, so
    editors do not flag valid compose-style files."""
    for model in [schema, *schema.get("$defs", {}).values()]:
        for name, prop in model.get("properties", {}).items():
            extra = list(_SHORT_FORMS.get(name, []))
            if name in _DURATIONS:
                extra.append({"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|us|h|m|s))+$"})
            if name == "restart":
                extra.append({"const": False})
            if name in ("volumes",) and model is schema:
                extra = [{"type": "object", "additionalProperties": {"type": ["object", "null"]}}]
            if not extra:
                continue
            original = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
            kept = {k: v for k, v in prop.items() if k in ("title", "description", "default")}
            if name == "ports" or (name == "volumes" and model is not schema):
                original = {"type": "array", "items": {"anyOf": [original.get("items", {}), *extra]}}
                prop.clear()
                prop.update(kept | original)
                continue
            prop.clear()
            prop.update(kept | {"anyOf": [original, *extra]})
