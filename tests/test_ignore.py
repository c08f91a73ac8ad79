"""Ignore decisions as git makes them, on real .gitignore files."""

from __future__ import annotations

from pathlib import Path

from devrun.watch.ignore import GitignoreCache, RuleIgnores, dockerignore_as_gitignore
from devrun.watch.rules import Router, WatchSpec, split_glob


def _rules(patterns=(), files=(), use_gitignore=True) -> RuleIgnores:
    return RuleIgnores(patterns, files, GitignoreCache(), use_gitignore=use_gitignore)


def test_defaults_cover_vcs_caches_and_editor_temp_files(tmp_path: Path):
    r = _rules()
    root = str(tmp_path)
    for name in [".git", "__pycache__"]:
        assert r.ignored(f"{root}/{name}", True, root, root)
        assert r.ignored(f"{root}/{name}/x", False, root, root)
    for name in [
        "a.pyc",
        ".DS_Store",
        ".a.py.swp",
        ".a.py.swx",
        "a.py~",
        "4913",
        ".#a.py",
        "a.py___jb_tmp___",
        "a.py___jb_old___",
    ]:
        assert r.ignored(f"{root}/sub/{name}", False, root, root), name
    assert not r.ignored(f"{root}/sub/a.py", False, root, root)


def test_nested_gitignore_is_relative_to_its_folder_and_negations_work(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("*.log\nbuild/\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / ".gitignore").write_text("!keep.log\n/local.txt\n")
    r = _rules()
    root = str(tmp_path)
    assert r.ignored(f"{root}/a.log", False, root, root)
    assert r.ignored(f"{root}/pkg/a.log", False, root, root)
    assert not r.ignored(f"{root}/pkg/keep.log", False, root, root)
    assert r.ignored(f"{root}/pkg/local.txt", False, root, root)
    assert not r.ignored(f"{root}/local.txt", False, root, root)  # anchored to pkg/
    assert r.ignored(f"{root}/pkg/build", True, root, root)
    assert r.ignored(f"{root}/pkg/build/x.py", False, root, root)  # inside an ignored dir


def test_excluded_parent_cannot_be_reincluded(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("dist/\n!dist/keep.txt\n")
    r = _rules()
    root = str(tmp_path)
    assert r.ignored(f"{root}/dist/keep.txt", False, root, root)


def test_gitignore_cache_reloads_after_invalidate(tmp_path: Path):
    cache = GitignoreCache()
    r = RuleIgnores([], [], cache)
    root = str(tmp_path)
    (tmp_path / ".gitignore").write_text("*.tmp\n")
    assert r.ignored(f"{root}/a.tmp", False, root, root)
    (tmp_path / ".gitignore").write_text("")
    assert r.ignored(f"{root}/a.tmp", False, root, root)  # cached
    cache.invalidate(root)
    assert not r.ignored(f"{root}/a.tmp", False, root, root)


def test_rule_ignore_is_relative_to_the_rule_path(tmp_path: Path):
    r = _rules(["/static/", "*.md"])
    root = f"{tmp_path}/src"
    assert r.ignored(f"{root}/static", True, root, str(tmp_path))
    assert not r.ignored(f"{root}/a/static", True, root, str(tmp_path))
    assert r.ignored(f"{root}/a/README.md", False, root, str(tmp_path))


def test_dockerignore_is_anchored_at_the_context(tmp_path: Path):
    (tmp_path / ".dockerignore").write_text("# comment\n*.pyc\nnode_modules\n!node_modules/keep\n")
    assert dockerignore_as_gitignore(["*.pyc", "!x", "", "/y"]) == ["/*.pyc", "!/x", "/y"]
    r = _rules(files=[str(tmp_path / ".dockerignore")], use_gitignore=False)
    root = str(tmp_path)
    assert r.ignored(f"{root}/node_modules", True, root, root)
    assert not r.ignored(f"{root}/sub/node_modules", True, root, root)


def test_config_watches_skip_gitignore(tmp_path: Path):
    (tmp_path / ".gitignore").write_text(".env\n")
    router = Router([WatchSpec(None, 0, [f"{tmp_path}/.env"])], GitignoreCache())
    assert [r.spec.rule_index for r in router.matching(f"{tmp_path}/.env", False)] == [0]
    assert router.matching(f"{tmp_path}/other", False) == []


def test_globbed_rule_paths(tmp_path: Path):
    assert split_glob("/p/packages/*/src") == ("/p/packages", ("*", "src"))
    router = Router([WatchSpec("web", 0, [f"{tmp_path}/packages/*/src"])], GitignoreCache(), str(tmp_path))
    p = f"{tmp_path}/packages"
    assert router.keep_dir(p) and router.keep_dir(f"{p}/a") and router.keep_dir(f"{p}/a/src/deep")
    assert not router.keep_dir(f"{p}/a/node_modules")
    assert router.matching(f"{p}/a/src/x.py", False)
    assert not router.matching(f"{p}/a/README.md", False)
    star = Router([WatchSpec("web", 0, [f"{tmp_path}/**/static"])], GitignoreCache(), str(tmp_path))
    assert star.matching(f"{tmp_path}/a/b/static/x.css", False)
    assert not star.matching(f"{tmp_path}/a/b/x.css", False)


def test_directory_ignored_only_when_every_covering_rule_ignores_it(tmp_path: Path):
    specs = [WatchSpec("web", 0, [str(tmp_path)], ignore=["docs/"]), WatchSpec("docs", 0, [str(tmp_path)])]
    router = Router(specs, GitignoreCache(), str(tmp_path))
    assert router.keep_dir(f"{tmp_path}/docs")
    assert [r.spec.service for r in router.matching(f"{tmp_path}/docs/a.md", False)] == ["docs"]
    only = Router(specs[:1], GitignoreCache(), str(tmp_path))
    assert not only.keep_dir(f"{tmp_path}/docs")
