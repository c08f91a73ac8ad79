"""Which paths a watch rule ignores, decided the way git decides it.

Layers, strongest first: the rule's own `ignore` patterns, its `ignore_files`
(a build context's .dockerignore), every `.gitignore` from the path's folder up
to the repository top (deeper files override shallower ones, negations
included), then devrun's defaults (VCS folders, caches, editor temp files).
A path inside an ignored directory is ignored whatever its own patterns say,
as in git. All matching is pathspec's; this module only layers the specs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from pathspec import GitIgnoreSpec

DEFAULT_IGNORES: tuple[str, ...] = (
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".DS_Store",
    "*.swp",
    "*.swx",
    "*~",
    "4913",
    ".#*",
    "*___jb_tmp___",
    "*___jb_old___",
)
_DEFAULT_SPEC = GitIgnoreSpec.from_lines(DEFAULT_IGNORES)
_EMPTY = GitIgnoreSpec.from_lines([])


def _read_lines(file: str) -> list[str] | None:
    try:
        with open(file, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None


def dockerignore_as_gitignore(lines: Iterable[str]) -> list[str]:
    """A .dockerignore pattern is always anchored at the context root
    (`*.pyc` matches only top-level files there), so anchor each pattern."""
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        body = line[1:] if neg else line
        body = "/" + body.lstrip("/")
        out.append(("!" if neg else "") + body)
    return out


class GitignoreCache:
    """Parsed `.gitignore` files by folder; shared by all rules of a watcher.
    The watcher calls `invalidate` when it sees a .gitignore change."""

    def __init__(self) -> None:
        self._specs: dict[str, GitIgnoreSpec] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped on every invalidation, so callers can drop derived caches

    def spec_for(self, folder: str) -> GitIgnoreSpec:
        with self._lock:
            spec = self._specs.get(folder)
        if spec is None:
            lines = _read_lines(os.path.join(folder, ".gitignore"))
            spec = GitIgnoreSpec.from_lines(lines) if lines else _EMPTY
            with self._lock:
                self._specs[folder] = spec
        return spec

    def invalidate(self, folder: str) -> None:
        with self._lock:
            self._specs.pop(folder, None)
            self.generation += 1


def git_top(path: str, ceiling: str | None = None) -> str | None:
    """The nearest folder at or above `path` holding `.git` (dir or file)."""
    cur = path
    while True:
        if os.path.lexists(os.path.join(cur, ".git")):
            return cur
        if cur == ceiling:
            return None
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def _verdict(spec: GitIgnoreSpec, rel: str, is_dir: bool) -> bool | None:
    """True ignored, False re-included by a negation, None no opinion."""
    return spec.check_file(rel + "/" if is_dir else rel).include


def _rel(path: str, base: str) -> str:
    return "." if path == base else path[len(base) + 1 :] if base != "/" else path[1:]


class RuleIgnores:
    """Ignore decisions for one watch rule. `top` is where .gitignore files stop
    applying (the git repository top, else the project root or rule path);
    `use_gitignore` is off for config-file watches."""

    def __init__(
        self,
        patterns: Iterable[str],
        ignore_files: Iterable[str],
        gitignores: GitignoreCache,
        *,
        use_gitignore: bool = True,
    ) -> None:
        self._rule_spec = GitIgnoreSpec.from_lines(list(patterns))
        self._file_specs: list[tuple[str, GitIgnoreSpec]] = []
        for file in ignore_files:
            lines = _read_lines(file) or []
            if os.path.basename(file).endswith("dockerignore"):
                lines = dockerignore_as_gitignore(lines)
            self._file_specs.append((os.path.dirname(file), GitIgnoreSpec.from_lines(lines)))
        self._gitignores = gitignores
        self._use_gitignore = use_gitignore
        self._dir_cache: dict[tuple[str, str], bool] = {}
        self._generation = gitignores.generation

    def ignored(self, path: str, is_dir: bool, root: str, top: str) -> bool:
        """Is `path` (under `root`, the rule's matched path) ignored, counting
        ignored parent directories between `root` and `path`?"""
        if path != root:
            parent = os.path.dirname(path)
            if parent != root and self._dir_ignored_cached(parent, root, top):
                return True
        return self.ignored_here(path, is_dir, root, top)

    def _dir_ignored_cached(self, folder: str, root: str, top: str) -> bool:
        if self._generation != self._gitignores.generation:
            self._dir_cache.clear()
            self._generation = self._gitignores.generation
        key = (folder, root)
        hit = self._dir_cache.get(key)
        if hit is None:
            hit = self.ignored(folder, True, root, top)
            if len(self._dir_cache) > 50_000:
                self._dir_cache.clear()
            self._dir_cache[key] = hit
        return hit

    def ignored_here(self, path: str, is_dir: bool, root: str, top: str) -> bool:
        """The decision for `path` alone (its parents assumed kept)."""
        if path != root:
            verdict = _verdict(self._rule_spec, _rel(path, root), is_dir)
            if verdict is not None:
                return verdict
        for base, spec in self._file_specs:
            if path.startswith(base + "/"):
                verdict = _verdict(spec, _rel(path, base), is_dir)
                if verdict is not None:
                    return verdict
        if self._use_gitignore:
            folder = os.path.dirname(path)
            while folder.startswith(top + "/") or folder == top:
                verdict = _verdict(self._gitignores.spec_for(folder), _rel(path, folder), is_dir)
                if verdict is not None:
                    return verdict
                if folder == top:
                    break
                folder = os.path.dirname(folder)
        return bool(_verdict(_DEFAULT_SPEC, os.path.basename(path), is_dir))
