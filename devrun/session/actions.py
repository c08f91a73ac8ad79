"""What to do about a batch of changes, and the per-service worker that does it.

`plan_actions` is pure: rules + the paths each rule matched -> ordered steps.
`ServiceWorker` runs one batch at a time; batches that arrive meanwhile are
merged into exactly one follow-up, so a burst of saves never becomes a storm
of restarts and no change is ever dropped."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from devrun.config.model import WatchRule

StepKind = Literal["rebuild", "sync", "exec", "restart", "signal"]


@dataclass(frozen=True)
class Step:
    kind: StepKind
    rules: tuple[int, ...]
    paths: frozenset[str]
    signal: str | None = None
    argv: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        if self.kind == "signal":
            return f"signal {self.signal}"
        return self.kind


@dataclass(frozen=True)
class ChangeBatch:
    """Paths that changed for one service, and which rule (by index) matched which."""

    service: str
    paths: frozenset[str]
    rules: Mapping[int, frozenset[str]] = field(default_factory=dict)
    # reconcile the whole tree instead of syncing these paths: after a failed
    # step, or for a container devrun did not watch until now
    catch_up: bool = False
    # the config the rule indices refer to: a worker runs a batch against the
    # config it was matched with, never one swapped in mid-step
    cfg: Any = field(default=None, compare=False)
    # change ids this run makes live, and steps asked for by a control call
    # (restart, rebuild) whatever the paths say
    changes: frozenset[int] = frozenset()
    forced: frozenset[str] = frozenset()
    detected_at: float | None = field(default=None, compare=False)  # monotonic, first file event
    closed_at: float | None = field(default=None, compare=False)

    def merge(self, other: ChangeBatch) -> ChangeBatch:
        """`other` is the later batch. Rule indices of another config mean
        other rules: then only the later ones count, and a whole-tree
        reconcile covers the earlier paths."""
        extra = {
            "changes": self.changes | other.changes,
            "forced": self.forced | other.forced,
            "detected_at": min(
                (t for t in (self.detected_at, other.detected_at) if t is not None), default=None
            ),
            "closed_at": other.closed_at or self.closed_at,
        }
        if self.cfg is not other.cfg and self.cfg is not None and other.cfg is not None:
            return ChangeBatch(
                self.service, self.paths | other.paths, dict(other.rules), True, other.cfg, **extra
            )
        rules = {
            i: self.rules.get(i, frozenset()) | other.rules.get(i, frozenset())
            for i in {*self.rules, *other.rules}
        }
        return ChangeBatch(
            self.service,
            self.paths | other.paths,
            rules,
            self.catch_up or other.catch_up,
            other.cfg if other.cfg is not None else self.cfg,
            **extra,
        )


def plan_actions(rules: Sequence[WatchRule], matched: Mapping[int, frozenset[str]]) -> list[Step]:
    """The smallest sufficient set of steps, in the order they must run:
    a rebuild covers everything; otherwise syncs first, then execs, then one
    restart (which covers any signal) or the distinct signals."""
    hit = sorted(i for i, paths in matched.items() if paths and 0 <= i < len(rules))
    if not hit:
        return []
    all_paths = frozenset().union(*(matched[i] for i in hit))
    rebuild = [i for i in hit if rules[i].action == "rebuild"]
    if rebuild:
        return [Step("rebuild", tuple(rebuild), all_paths)]

    steps: list[Step] = []
    for i in hit:
        if rules[i].action.startswith("sync"):
            steps.append(Step("sync", (i,), matched[i]))

    execs: dict[tuple[str, ...], list[int]] = {}
    for i in hit:
        rule = rules[i]
        if rule.action in ("exec", "sync+exec") and rule.exec:
            execs.setdefault(tuple(rule.exec), []).append(i)
    for argv, idx in execs.items():
        steps.append(Step("exec", tuple(idx), frozenset().union(*(matched[i] for i in idx)), argv=argv))

    restart = [i for i in hit if rules[i].action in ("restart", "sync+restart")]
    signals: dict[str, list[int]] = {}
    for i in hit:
        if rules[i].action == "signal":
            signals.setdefault(rules[i].signal or "SIGHUP", []).append(i)
    if restart:
        covered = restart + [i for idx in signals.values() for i in idx]
        steps.append(
            Step("restart", tuple(sorted(covered)), frozenset().union(*(matched[i] for i in covered)))
        )
    else:
        for sig, idx in signals.items():
            steps.append(
                Step("signal", tuple(idx), frozenset().union(*(matched[i] for i in idx)), signal=sig)
            )
    return steps


class ServiceWorker:
    """One thread per service. `submit` never blocks; the worker drains and
    merges everything queued before each run, so changes that arrive during
    an action become exactly one follow-up run."""

    def __init__(
        self, service: str, run: Callable[[ChangeBatch], None], on_error: Callable[[str, BaseException], None]
    ):
        self.service = service
        self._run = run
        self._on_error = on_error
        self._inbox: queue.Queue[ChangeBatch | None] = queue.Queue()
        self.busy = False  # a batch is being run (read by stop, to say what it waits for)
        self._thread = threading.Thread(target=self._loop, name=f"devrun-worker-{service}", daemon=True)
        self._thread.start()

    def submit(self, batch: ChangeBatch) -> None:
        self._inbox.put(batch)

    def stop(self, timeout: float | None = None) -> None:
        self._inbox.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            batch: ChangeBatch = item
            stop = False
            while True:
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch = batch.merge(more)
            self.busy = True
            try:
                self._run(batch)
            except Exception as e:  # noqa: BLE001 - one failed action must not kill the worker
                self._on_error(self.service, e)
            finally:
                self.busy = False
            if stop:
                return
