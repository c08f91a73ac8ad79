"""The crash restart policy replayed over scripted histories of exits
(honcho's HISTORIES style): what the loop decides after each one."""

from __future__ import annotations

import pytest

from devrun.session.restart_policy import BACKOFF_MAX, BACKOFF_RESET_AFTER, Exit, decide, replay

QUICK_CRASH = Exit(1, 0.5)
CLEAN = Exit(0, 0.5)
LONG_RUN_CRASH = Exit(1, BACKOFF_RESET_AFTER + 1)

HISTORIES = {
    "crash loop backs off, capped": ("on-failure", [QUICK_CRASH] * 8, [1, 2, 4, 8, 16, 30, 30, 30]),
    "a long run starts the backoff afresh": (
        "on-failure",
        [QUICK_CRASH, QUICK_CRASH, QUICK_CRASH, LONG_RUN_CRASH, QUICK_CRASH],
        [1, 2, 4, 1, 2],
    ),
    "on-failure leaves a clean exit down": ("on-failure", [QUICK_CRASH, CLEAN, QUICK_CRASH], [1, None, 2]),
    "always restarts a clean exit too": ("always", [CLEAN, CLEAN, QUICK_CRASH], [1, 2, 4]),
    "no never restarts": ("no", [QUICK_CRASH, CLEAN, LONG_RUN_CRASH], [None, None, None]),
    "unknown exit code counts as clean": ("on-failure", [Exit(None, 0.1)], [None]),
}


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_history(name):
    policy, exits, delays = HISTORIES[name]
    assert replay(policy, exits) == delays


def test_the_attempt_count_reported_is_the_restarts_in_a_row():
    d = decide("on-failure", QUICK_CRASH, 0)
    assert (d.delay, d.attempts) == (1, 1)
    d = decide("on-failure", QUICK_CRASH, d.attempts)
    assert (d.delay, d.attempts) == (2, 2)
    assert decide("on-failure", CLEAN, 5).attempts == 5  # no restart: the count stands
    assert decide("always", QUICK_CRASH, 40).delay == BACKOFF_MAX
