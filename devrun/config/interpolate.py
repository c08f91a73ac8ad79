"""Compose-style variable interpolation and .env parsing.

$VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message},
${VAR:+alt}, ${VAR+alt}, nested defaults, and $$ for a literal $."""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            out.append(_expand(text[i + 2 : end], env))
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if m:
                out.append(env.get(m.group(0), ""))
                i = m.end()
            else:
                out.append("$")
                i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth, i = 1, start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError("unterminated '${'; close it with '}' or write '$$' for a literal '$'")


def _expand(body: str, env: Mapping[str, str]) -> str:
    m = _NAME.match(body)
    if not m:
        raise InterpolationError("invalid variable after '${': a name is letters, digits and '_'")
    name, rest = m.group(0), body[m.end() :]
    if not rest:
        return env.get(name, "")
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if op is None:
        raise InterpolationError(
            f"invalid variable '${{{name}...}}': after the name use :-, -, :?, ?, :+ or +"
        )
    arg = rest[len(op) :]
    value = env.get(name)
    set_ = value is not None
    nonempty = bool(value)
    present = nonempty if op.startswith(":") else set_
    kind = op[-1]
    if kind == "-":
        return value if present else interpolate(arg, env)  # type: ignore[return-value]
    if kind == "+":
        return interpolate(arg, env) if present else ""
    if not present:
        msg = interpolate(arg, env) or f"variable {name} is required"
        raise InterpolationError(f"{name}: {msg}")
    return value  # type: ignore[return-value]


_NAME_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*$")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")


def parse_env_file(
    path: Path, env: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """KEY=VALUE lines, '#' comments, optional 'export', single or double quotes.
    Returns the values and a list of (line, problem) for lines it cannot read.
    With `env`, unquoted and double-quoted values are interpolated as compose
    does for env_file: the file's earlier values first, then `env`."""
    values: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        bare = _NAME_LINE.match(raw)
        if bare and bare.group(1) != "export":
            # a name alone takes the value from the environment, as compose reads it
            if env is not None and bare.group(1) in env:
                values[bare.group(1)] = env[bare.group(1)]
            continue
        m = _ENV_LINE.match(raw)
        if not m:
            # the line is not quoted: an env file holds secrets
            problems.append((lineno, "cannot read this line; write KEY=VALUE"))
            continue
        key, val = m.group(1), m.group(2)
        literal = val[:1] == "'"
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            quoted = val[1:-1]
            val = quoted.encode().decode("unicode_escape") if val[0] == '"' and "\\" in quoted else quoted
        elif " #" in val:
            val = val.split(" #", 1)[0].rstrip()
        if env is not None and not literal:
            try:
                val = interpolate(val, ChainMap(values, dict(env)))
            except InterpolationError as e:
                problems.append((lineno, str(e)))
                continue
        values[key] = val
    return values, problems
