"""Which watch rule a path belongs to, and which directories deserve a watch.

Pure decisions over paths (the only I/O is reading .gitignore files, through
the shared cache). A rule path may hold globs (`/proj/packages/*/src`,
`/proj/**/static`): the static part before the first glob is the `base` we
watch from, and a directory under it is worth watching only while it can
still lead to a match.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from devrun.watch.ignore import GitignoreCache, RuleIgnores, git_top

_GLOB_CHARS = frozenset("*?[")


@dataclass
class WatchSpec:
    service: str | None  # None: a config file (devrun.yaml, .env, env files)
    rule_index: int
    paths: list[str]  # absolute, may contain globs
    ignore: list[str] = field(default_factory=list)  # gitignore-style, relative to the rule's path
    ignore_files: list[str] = field(default_factory=list)  # e.g. a build context's .dockerignore
    debounce: float | None = None


def split_glob(pattern: str) -> tuple[str, tuple[str, ...]]:
    """'/p/packages/*/src' -> ('/p/packages', ('*', 'src'))."""
    parts = pattern.rstrip("/").split("/")
    for i, part in enumerate(parts):
        if _GLOB_CHARS & set(part):
            return "/".join(parts[:i]) or "/", tuple(parts[i:])
    return pattern.rstrip("/") or "/", ()


def _full_matches(globs: tuple[str, ...], segs: tuple[str, ...]) -> int | None:
    """Length of the shortest prefix of `segs` matching all of `globs`, or None."""
    if not globs:
        return 0
    head, rest = globs[0], globs[1:]
    if head == "**":
        for skip in range(len(segs) + 1):
            n = _full_matches(rest, segs[skip:])
            if n is not None:
                return skip + n
        return None
    if segs and fnmatchcase(segs[0], head):
        n = _full_matches(rest, segs[1:])
        return None if n is None else n + 1
    return None


def _could_lead(globs: tuple[str, ...], segs: tuple[str, ...]) -> bool:
    """Can a path starting with `segs` still match `globs` further down?"""
    if not segs:
        return True
    if not globs:
        return True  # already past a full match
    head, rest = globs[0], globs[1:]
    if head == "**":
        return True
    return fnmatchcase(segs[0], head) and _could_lead(rest, segs[1:])


def under(path: str, base: str) -> bool:
    return path == base or path.startswith(base if base.endswith("/") else base + "/")


class RuleRoot:
    """One entry of one rule's `paths`."""

    def __init__(self, spec: WatchSpec, pattern: str, gitignores: GitignoreCache, project_root: str | None):
        self.spec = spec
        self.pattern = pattern
        self.base, self.globs = split_glob(os.path.normpath(pattern))
        self.files_only = spec.service is None  # config files: exact paths, never .gitignore'd
        self.ignores = RuleIgnores(
            spec.ignore, spec.ignore_files, gitignores, use_gitignore=not self.files_only
        )
        existing = self.base
        while not os.path.isdir(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        top = git_top(existing)
        if top is None:
            top = project_root if project_root and under(self.base, project_root) else existing
        self.top = top

    def matched_root(self, path: str) -> str | None:
        """The concrete rule path `path` falls under (itself or an ancestor)."""
        if not under(path, self.base):
            return None
        if not self.globs:
            return self.base
        if self.files_only:
            return None
        segs = tuple(path[len(self.base) :].strip("/").split("/")) if path != self.base else ()
        n = _full_matches(self.globs, segs)
        if n is None:
            return None
        return os.path.join(self.base, *segs[:n]) if n else self.base

    def counts(self, path: str, is_dir: bool) -> bool:
        """Does a change at `path` count for this rule?"""
        root = self.matched_root(path)
        if root is None:
            return False
        if self.files_only or path == root:
            return path == root  # a path the rule names itself is never ignored
        return not self.ignores.ignored(path, is_dir, root, self.top)

    def wants_dir(self, folder: str) -> bool:
        """Should `folder` (a directory at or under base) be watched for this rule?"""
        if self.files_only or not under(folder, self.base):
            return False
        root = self.matched_root(folder)
        if root is not None:
            return not self.ignores.ignored(folder, True, root, self.top)
        segs = tuple(folder[len(self.base) :].strip("/").split("/")) if folder != self.base else ()
        return _could_lead(self.globs, segs)


class Router:
    """All roots of all rules: maps a path to the rules it counts for."""

    def __init__(self, specs: list[WatchSpec], gitignores: GitignoreCache, project_root: str | None = None):
        self.gitignores = gitignores
        self.roots = [RuleRoot(s, p, gitignores, project_root) for s in specs for p in s.paths]

    def matching(self, path: str, is_dir: bool) -> list[RuleRoot]:
        return [r for r in self.roots if r.counts(path, is_dir)]

    def keep_dir(self, folder: str) -> bool:
        """False when the directory is ignored for every rule that covers it."""
        return any(r.wants_dir(folder) for r in self.roots)

    def on_way_to_root(self, path: str) -> bool:
        """Is `path` a rule base or one of its ancestors (a missing root may be coming back)?"""
        return any(under(r.base, path) for r in self.roots)
