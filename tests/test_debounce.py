"""The debouncer is pure: a fake clock drives it."""

from __future__ import annotations

import pytest

from devrun.watch.debounce import Batch, Change, Debouncer


def test_quiet_period_closes_a_batch():
    d = Debouncer(quiet=0.1, max_wait=1.0)
    d.add(0.0, "web", "/p/a.py", Change.MODIFIED, 0)
    d.add(0.05, "web", "/p/b.py", Change.MODIFIED, 0)
    assert d.next_deadline() == pytest.approx(0.15)
    assert d.pop_due(0.14) == []
    [batch] = d.pop_due(0.151)
    assert batch == Batch("web", frozenset({"/p/a.py", "/p/b.py"}), {0: frozenset({"/p/a.py", "/p/b.py"})})
    assert d.next_deadline() is None and not d.pending()


def test_max_wait_caps_a_file_that_keeps_changing():
    d = Debouncer(quiet=0.1, max_wait=1.0, drip_quiet=0.1)
    t = 0.0
    closed = []
    while t < 2.5:
        d.add(t, "web", "/p/log.txt", Change.MODIFIED, 0)
        closed += d.pop_due(t)
        t += 0.05
    assert len(closed) == 2  # at 1.0 and 2.0, never postponed forever
    assert d.next_deadline() is not None and d.next_deadline() <= t + 0.1


def test_largest_matched_rule_debounce_wins():
    d = Debouncer(quiet=0.05, max_wait=1.0)
    d.add(0.0, "web", "/p/a.py", Change.MODIFIED, 0)
    d.add(0.0, "web", "/p/Dockerfile", Change.MODIFIED, 1, rule_quiet=0.5)
    assert d.pop_due(0.1) == []
    [batch] = d.pop_due(0.5)
    assert batch.rules == {0: frozenset({"/p/a.py"}), 1: frozenset({"/p/Dockerfile"})}


def test_rule_debounce_longer_than_max_wait_is_honoured():
    d = Debouncer(quiet=0.05, max_wait=0.2)
    d.add(0.0, "web", "/p/a", Change.MODIFIED, 0, rule_quiet=0.5)
    assert d.pop_due(0.3) == []
    assert len(d.pop_due(0.5)) == 1


def test_services_batch_separately():
    d = Debouncer(quiet=0.1, max_wait=1.0)
    d.add(0.0, "web", "/p/a", Change.MODIFIED, 0)
    d.add(0.08, "api", "/p/b", Change.MODIFIED, 0)
    assert [b.service for b in d.pop_due(0.1)] == ["web"]
    assert [b.service for b in d.pop_due(0.18)] == ["api"]


def test_transient_files_are_dropped_but_deletions_kept():
    d = Debouncer(quiet=0.1, max_wait=1.0)
    # sed -i: temp file created, written, renamed over the target
    d.add(0.0, "web", "/p/sedAb12Cd", Change.CREATED, 0)
    d.add(0.0, "web", "/p/sedAb12Cd", Change.MODIFIED, 0)
    d.add(0.0, "web", "/p/sedAb12Cd", Change.REMOVED, 0)
    d.add(0.0, "web", "/p/app.py", Change.CREATED, 0)
    d.add(0.0, "web", "/p/old.py", Change.REMOVED, 0)
    [batch] = d.pop_due(1.0)
    assert batch.paths == {"/p/app.py", "/p/old.py"}


def test_batch_of_only_transient_files_is_not_emitted():
    d = Debouncer(quiet=0.1, max_wait=1.0)
    d.add(0.0, "web", "/p/tmp1", Change.CREATED, 0)
    d.add(0.01, "web", "/p/tmp1", Change.REMOVED, 0)
    assert d.pop_due(1.0) == []
    assert not d.pending()


def test_config_batches_use_service_none():
    d = Debouncer(quiet=0.1, max_wait=1.0)
    d.add(0.0, None, "/p/devrun.yaml", Change.MODIFIED, 0)
    [batch] = d.pop_due(0.2)
    assert batch.service is None


def test_a_drip_costs_two_actions_not_ten():
    """Ten writes 0.3 s apart: the first is applied at once, the rest wait for
    the drip to end (drip quiet 0.5 s), capped by max_wait."""
    d = Debouncer(quiet=0.05, max_wait=3.0, drip_quiet=0.5)
    closed: list[tuple[float, frozenset]] = []
    t = 0.0
    writes = [round(i * 0.3, 3) for i in range(10)]
    while t < 5.0:
        if writes and t >= writes[0]:
            d.add(writes.pop(0), "web", "/p/app.py", Change.MODIFIED, 0)
        closed += [(t, b.paths) for b in d.pop_due(t)]
        t = round(t + 0.01, 3)
    assert [round(at, 2) for at, _ in closed] == [0.05, 3.2]  # 0.5 s after the last write (2.7 s)


def test_an_isolated_edit_after_a_pause_is_fast_again():
    d = Debouncer(quiet=0.05, max_wait=3.0, drip_quiet=0.5)
    d.add(0.0, "web", "/p/a", Change.MODIFIED, 0)
    assert d.pop_due(0.05)
    d.add(2.0, "web", "/p/a", Change.MODIFIED, 0)  # long after: not a drip
    assert d.next_deadline() == 2.05
    d.add(2.06, "api", "/p/b", Change.MODIFIED, 0)  # other services are not affected
    assert d.pop_due(2.05) and d.next_deadline() == 2.06 + 0.05
