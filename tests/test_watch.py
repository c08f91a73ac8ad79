"""The watcher on the real file system: files touched from the test thread,
batches asserted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.watcher_cost import SAVES, save_by_rename
from devrun.watch.watcher import WatchSpec
from tests.watch_helpers import watching


def _spec(path: Path, **kw) -> WatchSpec:
    return WatchSpec(kw.pop("service", "web"), kw.pop("rule_index", 0), [str(path)], **kw)


@pytest.mark.parametrize("save", list(SAVES.values()), ids=list(SAVES))
def test_each_editor_save_is_exactly_one_batch(tmp_path: Path, save):
    src = tmp_path / "src"
    src.mkdir()
    f = src / "app.py"
    f.write_text("v1\n")
    with watching([_spec(src)]) as (_w, c):
        save(f)
        batches = c.settle()
    assert f.read_text() == "v2\n"
    assert len(batches) == 1, batches
    assert batches[0].paths == {str(f)}
    assert batches[0].rules == {0: frozenset({str(f)})}


def test_ignored_files_cause_no_batch(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("*.log\nbuild/\n")
    (tmp_path / "build").mkdir()
    with watching([_spec(tmp_path, ignore=["*.tmp"])]) as (w, c):
        (tmp_path / "a.log").write_text("x")
        (tmp_path / "b.tmp").write_text("x")
        (tmp_path / "c.pyc").write_text("x")
        (tmp_path / "build" / "out.js").write_text("x")
        (tmp_path / "__pycache__").mkdir()
        (tmp_path / "__pycache__" / "m.cpython-311.pyc").write_text("x")
        assert c.settle() == []
        assert w.stats()["watches"] == 1  # build/ and __pycache__/ never watched


def test_nested_gitignore_with_negation(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("*.log\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / ".gitignore").write_text("!keep.log\n")
    with watching([_spec(tmp_path)]) as (_w, c):
        (pkg / "drop.log").write_text("x")
        (pkg / "keep.log").write_text("x")
        (tmp_path / "top.log").write_text("x")
        [batch] = c.settle()
    assert batch.paths == {str(pkg / "keep.log")}


def test_gitignore_edit_applies_while_watching(tmp_path: Path):
    (tmp_path / ".gitignore").write_text("gen/\n")
    (tmp_path / "gen").mkdir()
    with watching([_spec(tmp_path)]) as (w, c):
        (tmp_path / ".gitignore").write_text("")
        assert c.wait_for(tmp_path / ".gitignore")[-1].paths == {str(tmp_path / ".gitignore")}
        assert w.stats()["watches"] == 2  # gen/ is now kept and watched
        (tmp_path / "gen" / "x.py").write_text("x")
        assert c.settle()[0].paths == {str(tmp_path / "gen" / "x.py")}


def test_new_subdirectory_is_watched(tmp_path: Path):
    with watching([_spec(tmp_path)]) as (w, c):
        deep = tmp_path / "a" / "b"
        deep.mkdir(parents=True)
        (deep / "early.py").write_text("x")  # may land before the watch does
        c.wait_for(deep / "early.py")
        (deep / "later.py").write_text("x")
        [batch] = c.settle()
        assert batch.paths == {str(deep / "later.py")}
        assert w.stats()["watches"] == 3


def test_directory_moved_in_reports_its_files(tmp_path: Path):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "m.py").write_text("x")
    src = tmp_path / "src"
    src.mkdir()
    with watching([_spec(src)]) as (w, c):
        os.rename(outside, src / "moved")
        [batch] = c.settle()
        assert str(src / "moved" / "sub" / "m.py") in batch.paths
        assert w.stats()["watches"] == 3
        os.rename(src / "moved", tmp_path / "gone")
        [batch] = c.settle()
        assert batch.paths == {str(src / "moved")}
        assert w.stats()["watches"] == 1


def test_storm_of_2000_files_is_at_most_two_batches(tmp_path: Path):
    with watching([_spec(tmp_path)], max_wait=1.0) as (_w, c):
        for i in range(2000):
            (tmp_path / f"f{i:04}.txt").write_text(str(i))
        batches = c.settle()
    assert 1 <= len(batches) <= 2
    seen = set().union(*(b.paths for b in batches))
    assert seen == {str(tmp_path / f"f{i:04}.txt") for i in range(2000)}


def test_forced_polling_detects_changes(tmp_path: Path):
    (tmp_path / "node_modules").mkdir()
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    (tmp_path / "a.py").write_text("1")
    with watching([_spec(tmp_path)], poll=True, poll_interval=0.1) as (w, c):
        assert w.stats()["watches"] == 0
        assert set(w.stats()["modes"].values()) == {"poll"}
        (tmp_path / "a.py").write_text("22")
        (tmp_path / "node_modules" / "x.js").write_text("1")
        [batch] = c.settle()
        assert batch.paths == {str(tmp_path / "a.py")}


def test_env_var_forces_polling(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DEVRUN_POLL", "1")
    with watching([_spec(tmp_path)], poll_interval=0.1) as (w, c):
        assert w.stats()["modes"] == {str(tmp_path): "poll"}
        (tmp_path / "b.py").write_text("1")
        assert c.settle()[0].paths == {str(tmp_path / "b.py")}


def test_root_deleted_and_recreated_is_watched_again(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    with watching([_spec(src)]) as (_w, c):
        shutil.rmtree(src)
        c.wait_for(src)
        src.mkdir()
        (src / "x.py").write_text("1")
        c.wait_for(src / "x.py")
        (src / "y.py").write_text("1")
        [batch] = c.settle()
    assert batch.paths == {str(src / "y.py")}


def test_config_file_created_later_and_edited(tmp_path: Path):
    (tmp_path / ".gitignore").write_text(".env\n")
    env = tmp_path / ".env"
    with watching([_spec(env, service=None)]) as (_w, c):
        (tmp_path / "other.txt").write_text("x")
        env.write_text("A=1\n")
        [batch] = c.settle()
        assert batch.service is None and batch.paths == {str(env)}
        env.write_text("A=2\n")
        assert c.settle()[0].paths == {str(env)}


def test_rule_on_a_single_file(tmp_path: Path):
    req = tmp_path / "requirements.txt"
    req.write_text("a\n")
    with watching([_spec(req, rule_index=3)]) as (_w, c):
        (tmp_path / "other.py").write_text("x")
        save_by_rename(req)
        [batch] = c.settle()
    assert batch.rules == {3: frozenset({str(req)})}


def test_per_rule_debounce_and_rules_map(tmp_path: Path):
    (tmp_path / "src").mkdir()
    specs = [_spec(tmp_path / "src"), _spec(tmp_path / "Dockerfile", rule_index=1, debounce=0.3)]
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    with watching(specs) as (_w, c):
        (tmp_path / "src" / "a.py").write_text("x")
        (tmp_path / "Dockerfile").write_text("FROM y\n")
        batch = c.next()
    assert batch.rules == {
        0: frozenset({str(tmp_path / "src" / "a.py")}),
        1: frozenset({str(tmp_path / "Dockerfile")}),
    }
