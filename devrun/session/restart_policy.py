"""When a crashed container starts again: a pure function of the service's
restart policy and the exits seen so far. The session loop feeds it each exit
and arms a timer with the answer; tests replay scripted histories."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devrun.plan import engine_policy

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
# a container that ran this long before crashing starts its backoff afresh
BACKOFF_RESET_AFTER = 10.0


def engine_restarts(policy: str, exit_code: int | None, restarts: int) -> bool:
    """Whether the engine restarts a container that exited by itself, after
    `restarts` restarts of its own: devrun's attached loop then only reports."""
    rule = engine_policy(policy)
    if rule is None:
        return False
    name, limit = rule
    if name == "on-failure":
        return exit_code not in (0, None) and (limit == 0 or restarts < limit)
    return True


def restart_delay(policy: str, exit_code: int | None, attempt: int) -> float | None:
    """Seconds to wait before restarting a crashed container, or None: capped
    exponential backoff (1, 2, 4, ... 30 s)."""
    if policy == "always" or (policy == "on-failure" and exit_code not in (0, None)):
        return min(BACKOFF_FIRST * 2 ** max(0, attempt), BACKOFF_MAX)
    return None


@dataclass(frozen=True)
class Exit:
    exit_code: int | None
    ran_s: float  # how long the run that ended lasted


@dataclass(frozen=True)
class Decision:
    delay: float | None  # None: the service stays down
    attempts: int  # restarts in a row so far, this one included


def decide(policy: str, ended: Exit, attempts: int) -> Decision:
    """The answer to one exit, given the restarts in a row before it."""
    if ended.ran_s >= BACKOFF_RESET_AFTER:
        attempts = 0  # it ran for a while: a new crash, not the same loop
    delay = restart_delay(policy, ended.exit_code, attempts)
    return Decision(delay, attempts + 1 if delay is not None else attempts)


def replay(policy: str, history: Iterable[Exit]) -> list[float | None]:
    """The delays a sequence of exits gets, in order."""
    attempts, out = 0, []
    for ended in history:
        d = decide(policy, ended, attempts)
        attempts = d.attempts
        out.append(d.delay)
    return out
