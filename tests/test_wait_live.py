"""`devrun wait` next to a running `up` (issue 12): it returns only once the
app answers with the edit, and within 50 ms of that moment, over 20 edits for
each of signal, process restart and sync; 0 at once when nothing is pending.
The median is always held to 50 ms; on a machine loaded beyond its cores the
worst edit's bound is reported as an xfail with the measured lags (the order,
never before the app answers, is always asserted)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

from tests.live_helpers import DevrunUp, free_port, wait_until
from tests.test_control_api import APP, control, get, web_project

pytestmark = pytest.mark.docker
EDITS = int(os.environ.get("DEVRUN_WAIT_EDITS", "20"))
BUSY = 1  # load average per core above which the worst edit's 50 ms bound is not asserted

KINDS = {
    "signal": ("app/handler.py", lambda n: f'TEXT = "h{n}"\n', "/handler", lambda n: f"h{n}"),
    "restart": (
        "app/app.py",
        lambda n: APP.replace('VERSION = "v1"', f'VERSION = "v{n}"'),
        "/version",
        lambda n: f"v{n}",
    ),
    "sync": ("static/page.txt", lambda n: f"s{n}", "/static", lambda n: f"s{n}"),
}


def wait_cmd(folder, project: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "devrun", "-p", project, "wait", "--timeout", "30"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_wait_returns_once_the_edit_answers(kind, tmp_path, project_name):
    port = free_port()
    web_project(tmp_path, port)
    rel, content, path, expect = KINDS[kind]
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=90)
        wait_until(lambda: get(port, "/version") == "v1", 30, what="the app")
        control(project_name)
        lags = []
        for n in range(2, 2 + EDITS):
            (tmp_path / rel).write_text(content(n))
            proc = wait_cmd(tmp_path, project_name)
            seen_at = None
            while True:
                if seen_at is None and get(port, path, timeout=1) == expect(n):
                    seen_at = time.monotonic()
                code = proc.poll()
                if code is not None:
                    done_at = time.monotonic()
                    break
            out, err = proc.communicate()
            assert code == 0, err
            # never before the app answers with the edit
            assert get(port, path) == expect(n), f"edit {n}: wait returned before the app answered"
            lags.append((done_at - (seen_at or done_at)) * 1000)
        p95 = sorted(lags)[max(0, int(len(lags) * 0.95) - 1)]
        print(
            f"\n{kind}: wait after the app answered, ms: median {statistics.median(lags):.1f}, "
            f"p95 {p95:.1f}, max {max(lags):.1f} (load {os.getloadavg()[0]:.1f})"
        )
        assert statistics.median(lags) <= 50, lags
        if os.getloadavg()[0] > BUSY * (os.cpu_count() or 1):
            # other work holds the CPUs: every thread and process hop waits its turn, so the
            # worst edit is not measured here (the order above is: wait never returned early)
            pytest.xfail(f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: lags {lags}")
        assert max(lags) <= 50, lags


def test_wait_with_nothing_pending_returns_at_once(tmp_path, project_name):
    port = free_port()
    web_project(tmp_path, port)
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=90)
        control(project_name)
        t0 = time.monotonic()
        proc = wait_cmd(tmp_path, project_name)
        assert proc.wait(10) == 0
        assert time.monotonic() - t0 < 1.0


def test_wait_fails_with_the_error_of_a_broken_restart(tmp_path, project_name):
    port = free_port()
    web_project(tmp_path, port)
    with DevrunUp(tmp_path, project_name) as up:
        up.wait_for("ready", timeout=90)
        control(project_name)
        (tmp_path / "app/app.py").write_text("raise SystemExit(3)\n")
        proc = wait_cmd(tmp_path, project_name)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "web" in err, err
