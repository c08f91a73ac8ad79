"""Grouping file changes into batches: pure, with the clock passed in.

One pending batch per service. A batch closes when nothing new arrived for its
quiet period (the largest per-rule `debounce` among its matched rules, else
the default) or when it has been open for `max_wait`, so a file that never
stops changing cannot postpone the action forever.

Drips: a change that arrives within `drip_gap` of the service's previous
batch closing means edits are trickling in (a build tool writing one file
every few hundred ms, an editor autosaving). The next batch then waits
`drip_quiet` of silence instead of the short quiet period, so a drip of ten
writes costs two actions (the first edit stays fast) instead of ten.

Files that appear and vanish inside one batch (an editor's temp file renamed
over the target, `sed -i`'s sedXXXXXX) are dropped: they never existed as far
as the container is concerned. A path that existed before and is deleted is
kept, so the consumer sees the deletion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Change(Enum):
    CREATED = "created"  # appeared (create, moved in)
    MODIFIED = "modified"
    REMOVED = "removed"  # deleted or moved away


@dataclass(frozen=True)
class Batch:
    service: str | None  # None: devrun's own config files (hot reload)
    paths: frozenset[str]
    rules: dict[int, frozenset[str]]  # rule index -> the paths that matched it
    first_at: float | None = field(default=None, compare=False)  # the clock's time of its first change


@dataclass
class _PathState:
    born: bool  # first seen in this batch as appearing
    gone: bool = False


@dataclass
class _Pending:
    first_at: float
    last_at: float
    quiet: float
    paths: dict[str, _PathState] = field(default_factory=dict)
    rules: dict[int, set[str]] = field(default_factory=dict)


class Debouncer:
    def __init__(
        self, quiet: float, max_wait: float, drip_quiet: float | None = None, drip_gap: float | None = None
    ) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self.drip_quiet = max(quiet, drip_quiet if drip_quiet is not None else 0.5)
        self.drip_gap = drip_gap if drip_gap is not None else self.drip_quiet
        self._pending: dict[str | None, _Pending] = {}
        self._closed_at: dict[str | None, float] = {}

    def add(
        self,
        now: float,
        service: str | None,
        path: str,
        change: Change,
        rule_index: int,
        rule_quiet: float | None = None,
    ) -> None:
        quiet = self.quiet if rule_quiet is None else rule_quiet
        pending = self._pending.get(service)
        if pending is None:
            closed = self._closed_at.get(service)
            if closed is not None and now - closed < self.drip_gap:
                quiet = max(quiet, self.drip_quiet)
            pending = self._pending[service] = _Pending(first_at=now, last_at=now, quiet=quiet)
        else:
            pending.quiet = max(pending.quiet, quiet)
        pending.last_at = now
        state = pending.paths.get(path)
        if state is None:
            state = pending.paths[path] = _PathState(born=change is Change.CREATED)
        state.gone = change is Change.REMOVED
        pending.rules.setdefault(rule_index, set()).add(path)

    def _deadline(self, pending: _Pending) -> float:
        cap = max(self.max_wait, pending.quiet)
        return min(pending.last_at + pending.quiet, pending.first_at + cap)

    def next_deadline(self) -> float | None:
        """When the earliest pending batch closes; None when nothing is pending."""
        return min((self._deadline(p) for p in self._pending.values()), default=None)

    def pop_due(self, now: float) -> list[Batch]:
        """Close every batch whose deadline has passed. Batches left with no
        path (only transient files) are dropped."""
        out = []
        for service, pending in list(self._pending.items()):
            if self._deadline(pending) > now:
                continue
            del self._pending[service]
            kept = {p for p, s in pending.paths.items() if not (s.born and s.gone)}
            if not kept:
                continue
            rules = {i: frozenset(ps & kept) for i, ps in pending.rules.items() if ps & kept}
            self._closed_at[service] = now
            out.append(Batch(service=service, paths=frozenset(kept), rules=rules, first_at=pending.first_at))
        return out

    def pending(self) -> bool:
        return bool(self._pending)

    def pending_services(self) -> set[str | None]:
        """Services with a batch still open."""
        return set(self._pending)
