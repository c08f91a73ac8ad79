"""Pure rule-to-step decisions and the worker's one-follow-up guarantee."""

from __future__ import annotations

import threading

import pytest

from devrun.config.model import WatchRule
from devrun.session.actions import ChangeBatch, ServiceWorker, plan_actions


def rule(action: str, **kw) -> WatchRule:
    if action.startswith("sync"):
        kw.setdefault("target", "/app")
    if action in ("exec", "sync+exec"):
        kw.setdefault("exec", "make")
    return WatchRule(path="/p", action=action, **kw)


def kinds(steps):
    return [s.label for s in steps]


@pytest.mark.parametrize(
    "actions, matched, expected",
    [
        (["restart"], [0], ["restart"]),
        (["signal"], [0], ["signal SIGHUP"]),
        (["restart", "signal"], [0, 1], ["restart"]),
        (["signal", "restart"], [0], ["signal SIGHUP"]),
        (["sync"], [0], ["sync"]),
        (["sync+restart"], [0], ["sync", "restart"]),
        (["sync+exec"], [0], ["sync", "exec"]),
        (["exec", "restart"], [0, 1], ["exec", "restart"]),
        (["rebuild", "restart", "sync"], [0, 1, 2], ["rebuild"]),
        (["sync", "rebuild"], [0], ["sync"]),
        (["restart", "sync+restart"], [0, 1], ["sync", "restart"]),
        (["exec", "exec"], [0, 1], ["exec"]),  # same command twice runs once
        (["restart"], [], []),
    ],
)
def test_plan_actions_table(actions, matched, expected):
    rules = [rule(a) for a in actions]
    steps = plan_actions(rules, {i: frozenset({f"/p/f{i}"}) for i in matched})
    assert kinds(steps) == expected


def test_distinct_signals_each_sent_once():
    rules = [rule("signal", signal="HUP"), rule("signal", signal="USR1"), rule("signal", signal="SIGHUP")]
    steps = plan_actions(rules, {0: frozenset({"/p/a"}), 1: frozenset({"/p/b"}), 2: frozenset({"/p/c"})})
    assert kinds(steps) == ["signal SIGHUP", "signal SIGUSR1"]
    assert steps[0].paths == {"/p/a", "/p/c"}


def test_rebuild_step_carries_all_paths():
    rules = [rule("rebuild"), rule("restart")]
    steps = plan_actions(rules, {0: frozenset({"/p/req.txt"}), 1: frozenset({"/p/app.py"})})
    assert steps[0].paths == {"/p/req.txt", "/p/app.py"}


def test_worker_merges_changes_during_an_action_into_one_follow_up():
    runs: list[frozenset[str]] = []
    started = threading.Event()
    release = threading.Event()
    follow_up = threading.Event()

    def run(batch: ChangeBatch) -> None:
        runs.append(batch.paths)
        started.set()
        if len(runs) == 1:
            release.wait(5)
        else:
            follow_up.set()

    w = ServiceWorker("web", run, on_error=lambda s, e: None)
    w.submit(ChangeBatch("web", frozenset({"a"}), {0: frozenset({"a"})}))
    assert started.wait(5)
    for name in "bcdef":
        w.submit(ChangeBatch("web", frozenset({name}), {0: frozenset({name})}))
    release.set()
    assert follow_up.wait(5)
    w.stop(5)  # runs whatever is still queued, then ends: no run can come after it
    assert runs == [frozenset("a"), frozenset("bcdef")]


def test_worker_survives_a_failing_action():
    errors: list[str] = []
    runs: list[int] = []
    first = threading.Event()
    second = threading.Event()

    def run(batch: ChangeBatch) -> None:
        runs.append(1)
        if len(runs) == 1:
            first.set()
            raise RuntimeError("boom")
        second.set()

    w = ServiceWorker("web", run, on_error=lambda s, e: errors.append(str(e)))
    w.submit(ChangeBatch("web", frozenset({"a"})))
    assert first.wait(5)  # the first batch runs alone: the second comes once it started
    w.submit(ChangeBatch("web", frozenset({"b"})))
    assert second.wait(5)
    w.stop(5)
    assert errors == ["boom"] and len(runs) == 2
