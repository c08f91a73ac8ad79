"""Startup, `up` times and the bare-engine baseline (what the physics allow)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import docker

from bench.measure import EngineWatch, summarize, wait_for
from bench.projects import LAYOUTS, generate
from bench.scenarios import EDIT_TIMEOUT, new_token, project_name, session
from bench.tools import DRIVERS, ComposeDriver


def startup(tool: str, client: docker.DockerClient, workdir: Path, reps: int) -> dict:
    """Launch to watching, and launch to the first edit (written once watching) visible."""
    to_watching, to_visible, misses = [], [], 0
    for _ in range(reps):
        with session(tool, "startup", client, workdir, warm_up=False) as (s, t0, ready):
            to_watching.append(round((ready - t0) * 1000, 1))
            token = new_token()
            s.write(token)
            seen = s.visible(token)
            if seen is None:
                misses += 1
            else:
                to_visible.append(round((seen - t0) * 1000, 1))
    return {
        "launch_to_watching": summarize(to_watching),
        "launch_to_first_edit_visible": summarize(to_visible + [None] * misses),
    }


def up_times(tool: str, client: docker.DockerClient, workdir: Path, reps: int) -> dict:
    """`up -d` with images present: cold (nothing created) then warm (all running, unchanged)."""
    cold, warm = [], []
    for _ in range(reps):
        project = generate(LAYOUTS["restart"], tool, project_name(tool, "up"), workdir)
        driver = DRIVERS[tool](project, client)
        try:
            cold.append(round(driver.up_detached() * 1000, 1))
            wait_for(project.port, "value=", None, 30)
            warm.append(round(driver.up_detached() * 1000, 1))
        finally:
            driver.down()
    return {"cold": summarize(cold), "warm": summarize(warm)}


def baseline(client: docker.DockerClient, workdir: Path, n: int) -> dict:
    """Bare `docker restart` and `docker kill -s HUP` of the app container (init: true)."""
    project = generate(LAYOUTS["restart"], "compose", f"benchbase{uuid.uuid4().hex[:6]}", workdir)
    driver = ComposeDriver(project, client)
    engine = EngineWatch(driver.label)
    engine.start(client)
    out: dict = {}
    try:
        driver.up_detached()
        wait_for(project.port, "value=", engine.gate, 30)
        ctr = client.containers.list(filters={"label": driver.label})[0]
        for name, act in (("restart", lambda: ctr.restart(timeout=10)), ("hup", lambda: ctr.kill("SIGHUP"))):
            samples: list[float | None] = []
            for _ in range(n):
                token = new_token()
                t0 = time.monotonic()
                project.edit_path.write_text(token + "\n")
                act()
                seen = wait_for(project.port, token, engine.gate, EDIT_TIMEOUT)
                samples.append(round((seen - t0) * 1000, 1) if seen else None)
                time.sleep(0.2)
            out[name] = summarize(samples)
    finally:
        engine.close()
        driver.down()
    return out
