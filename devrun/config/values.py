"""Plain values of the config model: durations, signals, commands, KEY=VALUE
maps. Pure functions used by the model's before-validators."""

from __future__ import annotations

import math
import re
import shlex
import signal as _signal
from typing import Any

from devrun.config.yaml_source import excerpt

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}


def parse_duration(value: Any) -> float:
    """'1m30s', '300ms', '5s', 5 or 2.5 (seconds) -> seconds."""
    if isinstance(value, bool):
        raise ValueError("not a duration; write e.g. '5s' or '300ms'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(float(value), value)
    if not isinstance(value, str):
        raise ValueError("not a duration; write e.g. '5s' or '300ms'")
    text = value.strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError("not a duration; write e.g. '5s', '300ms' or '1m30s'")
    return _bounded(total, value)


MAX_DURATION = 86400.0

_BYTES = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$")
_BYTE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_bytes(value: Any) -> int | None:
    """'64m', '1gb', '512k', '100' or 100 -> bytes, as compose reads sizes."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _BYTES.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError("not a size; write e.g. '64m', '1g' or a number of bytes")
    return int(float(m[1]) * _BYTE_UNITS[m[2].lower()])


def _bounded(seconds: float, shown: Any) -> float:
    # .inf/.nan are YAML floats, and huge values overflow engine timeouts later
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError("not a usable duration; keep it finite and at most 24h")
    return seconds


def normalise_signal(value: Any) -> str:
    """'HUP', 'sighup', 'SIGHUP' or 1 -> 'SIGHUP'; anything else is refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return _signal.Signals(value).name
        except ValueError:
            raise ValueError("not a signal number") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not a signal name; write e.g. HUP, USR1 or SIGTERM")
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in _signal.Signals.__members__:
        raise ValueError("not a signal name; write e.g. HUP, USR1 or SIGTERM")
    return name


def _split_command(value: Any) -> Any:
    # compose splits a string command like a shell would, without running a shell
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as e:
            raise ValueError(f"cannot split the command like a shell: {e}") from None
    return value


def _shell_command(value: Any) -> Any:
    # a string exec command is a shell snippet: pipes and && work as typed
    if isinstance(value, str):
        return ["/bin/sh", "-c", value]
    return value


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


def _env_map(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError("environment entries are KEY=VALUE strings")
            key, sep, val = item.partition("=")
            if not key:
                raise ValueError("an environment entry has no name before '='")
            out[key] = val if sep else None
        return out
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, dict | list):
                raise ValueError(f"environment value of {excerpt(k)} must be a string, number or boolean")
            if isinstance(v, bool):
                v = "true" if v else "false"
            out[str(k)] = None if v is None else str(v)
        return out
    return value


def _scalar_text(value: Any) -> Any:
    # YAML reads 1000 and 3.10 as numbers; compose-style files mean the text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value
