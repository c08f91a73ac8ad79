"""YAML text -> plain data whose mappings and lists remember where each entry
was written (file, line, column), so errors after merging several files still
name the file a value came from.

Nodes are composed, not loaded, so positions survive; scalars are interpolated
one by one so a `${VAR:?}` error points at its line. Merge keys (`<<`) follow
YAML: keys written in the mapping win over merged ones. Compose's `!reset` and
`!override` tags become `Reset` and `Override` values for the merge step."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devrun.config.interpolate import InterpolationError
from devrun.errors import ConfigError, Problem

MAX_NODES = 50_000
MAX_DEPTH = 64

Loc = tuple[str | int, ...]
# (file shown in errors, line, column), 1-based
Pos = tuple[str, int, int]


class PosDict(dict):
    """A mapping with the position of each value (`at`) and key (`key_at`)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.at: dict[str, Pos] = {}
        self.key_at: dict[str, Pos] = {}
        self.pos: Pos | None = None


class PosList(list):
    """A list with the position of each item (`at`, same order)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.at: list[Pos | None] = [None] * len(self)
        self.pos: Pos | None = None


@dataclass(frozen=True)
class Reset:
    """`!reset`: the key is removed from what it is merged onto."""


@dataclass(frozen=True)
class Override:
    """`!override`: the value replaces what it is merged onto, unmerged."""

    value: Any


@dataclass
class Marks:
    """Where each value (and each mapping key) sits in the source, by path."""

    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    files: dict[Loc, str] = field(default_factory=dict)

    def find(self, loc: Loc, prefer_key: bool = False) -> tuple[int | None, int | None]:
        if prefer_key and loc in self.keys:
            return self.keys[loc]
        for i in range(len(loc), -1, -1):
            if loc[:i] in self.values:
                return self.values[loc[:i]]
        return (None, None)

    def file_at(self, loc: Loc, default: str) -> str:
        for i in range(len(loc), -1, -1):
            if loc[:i] in self.files:
                return self.files[loc[:i]]
        return default


def marks_of(data: Any, shown: str) -> Marks:
    """The Marks of data built here (and perhaps merged): one walk."""
    marks = Marks()
    marks.values[()] = (1, 1)
    marks.files[()] = shown
    stack: list[tuple[Loc, Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, PosDict):
            items: Iterator[tuple[Any, Pos | None, Pos | None]] = (
                (k, value.at.get(k), value.key_at.get(k)) for k in value
            )
            pairs = [((*loc, k), v, a, ka) for (k, a, ka), v in zip(items, value.values(), strict=True)]
        elif isinstance(value, PosList):
            pairs = [((*loc, i), v, a, None) for i, (v, a) in enumerate(zip(value, value.at, strict=True))]
            for _, v, a, _ in pairs:
                if isinstance(v, str) and a:
                    marks.keys.setdefault((*loc, v), a[1:])
        else:
            continue
        for sub, v, a, ka in pairs:
            if a:
                marks.values[sub] = a[1:]
                marks.files[sub] = a[0]
            if ka:
                marks.keys[sub] = ka[1:]
            stack.append((sub, v))
    return marks


_UNPRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_MERGE_TAG = "tag:yaml.org,2002:merge"
COMPOSE_TAGS = ("!reset", "!override")


_NAME_PART = re.compile(r"[A-Za-z0-9_. -]*")
MAX_KEY_SHOWN = 40


def excerpt(key: object) -> str:
    """A key as errors may quote it: a plain name of at most MAX_KEY_SHOWN
    characters as written, anything else cut before its first character that a
    name would not have (a file that is not YAML config, e.g. a secrets file
    behind a symlink, must not reach logs through its "keys")."""
    text = str(key)
    lead = _NAME_PART.match(text).group(0)[:MAX_KEY_SHOWN]  # type: ignore[union-attr]
    return text if lead == text else f"{lead}…"


def fmt_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + excerpt(part)
    return out


MAX_BYTES = 4 * 1024 * 1024


def shown_path(path: Path) -> str:
    """A path as errors show it: relative to here when it can be."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def read_text(path: Path, shown: str) -> str:
    """A config file's text, or a ConfigError that never quotes its content."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError([Problem(shown, None, None, "", f"cannot read: {e.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        msg = f"file is {len(raw)} bytes; a devrun.yaml is at most {MAX_BYTES}, and so is a compose file"
        raise ConfigError([Problem(shown, None, None, "", msg)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        msg = f"not UTF-8 text (byte {e.start}); save it as UTF-8"
        raise ConfigError([Problem(shown, None, None, "", msg)]) from None


def parse(
    text: str,
    shown: str,
    expand: Callable[[str], str],
    *,
    tags: bool = False,
    problems: list[Problem] | None = None,
) -> Any:
    """The document as PosDict/PosList/scalars. `expand` interpolates one
    string (raising InterpolationError); `tags` allows compose's tags.
    Interpolation problems go to `problems` (the value is left unexpanded) so
    one run names them all with the rest; without it they are raised here."""
    bad = _UNPRINTABLE.search(text)
    if bad:
        # PyYAML refuses these before parsing starts, with a message about positions
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        msg = f"control character {bad.group()!r} is not allowed in YAML; remove it"
        raise ConfigError([Problem(shown, line, col, "", msg)])
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Problem(shown, 1, 1, "", "the file is empty; it needs at least `services:`")])
        builder = _Builder(loader, shown, expand, tags)
        data = builder.build(node, (), 0)
        if builder.problems and problems is None:
            raise ConfigError(builder.problems)
        if problems is not None:
            problems.extend(builder.problems)
        return data
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = _quoted_short((e.problem or e.context or "invalid YAML").strip())
        if e.context and e.problem:
            msg = f"{_quoted_short(e.problem)} ({_quoted_short(e.context)})"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        if "'\\t'" in msg:
            msg += "; indent with spaces, not tabs"
        raise ConfigError([Problem(shown, line, col, "", f"YAML syntax error: {msg}")]) from None
    except yaml.YAMLError:
        raise ConfigError([Problem(shown, None, None, "", "not YAML that devrun can read")]) from None
    except RecursionError:
        raise ConfigError([Problem(shown, None, None, "", "the document nests too deeply")]) from None
    finally:
        loader.dispose()


def _quoted_short(msg: str) -> str:
    """PyYAML's message with what it quotes from the file (an alias name, a
    character) cut to a short excerpt."""
    return re.sub(r"'([^']*)'", lambda m: f"'{excerpt(m[1]) if len(m[1]) > 2 else m[1]}'", msg)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, shown: str, expand: Callable[[str], str], tags: bool):
        self.loader, self.shown, self.expand, self.tags = loader, shown, expand, tags
        self.nodes = 0
        self.problems: list[Problem] = []

    def at(self, node: yaml.Node) -> Pos:
        return (self.shown, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node, loc: Loc, message: str) -> ConfigError:
        return ConfigError([Problem(self.shown, *self.at(node)[1:], fmt_loc(loc), message)])

    def build(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            # a recursive alias nests forever: show only the start of its path
            where = loc[:8]
            raise self.error(
                node, where, "document too large or too deeply nested (aliases expanded); simplify it"
            )
        if node.tag in COMPOSE_TAGS:
            if not self.tags:
                raise self.error(node, loc, f"YAML tag {node.tag} is a compose file tag; remove it")
            if node.tag == "!reset":
                return Reset()
            node = _retagged(node)
            return Override(self.build(node, loc, depth))
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            # tags on collections would be dropped silently below; say so instead
            raise self.error(node, loc, f"YAML tag {node.tag} is not supported here; remove it")
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, loc, depth)
        if isinstance(node, yaml.SequenceNode):
            out = PosList(self.build(item, (*loc, i), depth + 1) for i, item in enumerate(node.value))
            out.at = [self.at(item) for item in node.value]
            out.pos = self.at(node)
            return out
        value = self.loader.construct_object(node, deep=True)
        if node.style is None and _yaml11_only(node.value, value):
            # read as YAML 1.2 reads it (as compose does): `off` and `22:22` are text
            value = node.value
        if isinstance(value, str):
            try:
                value = self.expand(value)
            except InterpolationError as e:
                self.problems.extend(self.error(node, loc, str(e)).problems)
        elif isinstance(value, bytes | set) or type(value).__name__ in ("date", "datetime"):
            value = str(value)
        return value

    def mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> PosDict:
        written = {id(k) for k, _ in node.value if k.tag != _MERGE_TAG}
        self.loader.flatten_mapping(node)
        out = PosDict()
        out.pos = self.at(node)
        from_merge: set[str] = set()
        for knode, vnode in node.value:
            key = self.loader.construct_object(knode, deep=True)
            if isinstance(knode, yaml.ScalarNode) and knode.style is None and _yaml11_only(knode.value, key):
                key = knode.value
            if isinstance(key, list | dict):
                raise self.error(knode, loc, "a key must be a plain value")
            key = "null" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
            kloc = (*loc, key)
            mine = id(knode) in written
            if key in out and not mine:
                continue  # of two merged mappings, the first listed wins (YAML's merge key)
            if key in out and key not in from_merge:
                raise self.error(knode, kloc, f"duplicate key '{excerpt(key)}'; keep one")
            # a key written here overrides the same key from `<<`
            (from_merge.add if not mine else from_merge.discard)(key)
            out.key_at[key] = self.at(knode)
            out.at[key] = self.at(vnode)
            out[key] = self.build(vnode, kloc, depth + 1)
        return out


def _yaml11_only(text: str, value: Any) -> bool:
    """A plain scalar YAML 1.1 turns into a bool or a base-60 number, which
    YAML 1.2 (compose's reader) keeps as text."""
    if isinstance(value, bool):
        return text.lower() not in ("true", "false")
    return isinstance(value, int | float) and ":" in text


def _retagged(node: yaml.Node) -> yaml.Node:
    tag = {
        yaml.MappingNode: "tag:yaml.org,2002:map",
        yaml.SequenceNode: "tag:yaml.org,2002:seq",
        yaml.ScalarNode: "tag:yaml.org,2002:str",
    }[type(node)]
    if isinstance(node, yaml.ScalarNode):
        return yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark, node.style)
    return type(node)(tag, node.value, node.start_mark, node.end_mark, node.flow_style)
