"""Model-based test on the real engine: seeded random sequences of host edits
(create, modify, delete, rename files and folders, chmod, symlinks, hard
links, a 10,000-file folder created and deleted) mixed with devrun's lifecycle
(Ctrl-C, kill -9 then up, docker pause/unpause, an app crash and its fix, a
rebuild, a config edit during a rebuild). At every quiet point:

- the container's tree under the sync target equals the host's filtered tree
  (names, types, content hashes, modes, link targets), and what the image put
  in an ignored folder is still there;
- the running app started after the last applied edit: it fingerprints the
  tree when it starts, and that fingerprint equals the tree's now;
- a value written at the start into an anonymous volume and a named volume is
  still there.

CI runs a short seed list; `make soak` runs more seeds and longer sequences
(DEVRUN_MODEL_SEEDS, DEVRUN_MODEL_STEPS)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import stat
import tarfile
import time
from pathlib import Path

import docker.errors
import pytest

from tests.conftest import BUSYBOX, devrun
from tests.live_helpers import DevrunUp, wait_until

pytestmark = pytest.mark.docker

SEEDS = [int(s) for s in os.environ.get("DEVRUN_MODEL_SEEDS", "11,23").split(",")]
STEPS = int(os.environ.get("DEVRUN_MODEL_STEPS", "16"))
BIG_FILES = int(os.environ.get("DEVRUN_MODEL_BIG_FILES", "10000"))

# the app fingerprints the synced tree when it starts (ignored folder left out)
FINGERPRINT = "cd /app && find . -path ./node_modules -prune -o -type f -print | sort | xargs -r cat | md5sum"
APP = f"""
test -e /app/crash && {{ echo CRASH; exit 1; }}
{FINGERPRINT} > /state/started.sum
trap 'exit 0' TERM
while :; do sleep 0.1; done
"""

HOST_EDITS = (
    "create",
    "modify",
    "delete",
    "rename_file",
    "mkdir",
    "rmdir",
    "rename_dir",
    "chmod",
    "symlink",
    "hardlink",
)
LIFECYCLE = ("ctrl_c", "kill9", "pause", "crash_fix", "rebuild", "config_during_rebuild", "big")


def write_config(folder: Path, level: int) -> None:
    (folder / "devrun.yaml").write_text(f"""
services:
  app:
    build: .
    command: ["sh", "-c", {json.dumps(APP)}]
    environment: {{LEVEL: "{level}"}}
    volumes: ["/anon", "data:/named", "./state:/state"]
    stop_grace_period: 1s
    watch:
      - path: src
        action: sync+restart
        target: /app
        ignore: ["*.tmp", "node_modules/"]
      - path: stamp
        action: rebuild
volumes:
  data: {{}}
""")


class Model:
    """The host side: random edits inside src/, and the filtered tree they make."""

    def __init__(self, folder: Path, rng: random.Random):
        self.src = folder / "src"
        self.rng = rng
        self.n = 0

    def _name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def files(self) -> list[Path]:
        return sorted(
            p for p in self.src.rglob("*") if p.is_file() and not p.is_symlink() and "big" not in p.parts
        )

    def dirs(self) -> list[Path]:
        return sorted(
            p for p in self.src.rglob("*") if p.is_dir() and not p.is_symlink() and "big" not in p.parts
        )

    def edit(self, kind: str) -> None:
        rng, files, dirs = self.rng, self.files(), self.dirs()
        where = rng.choice([self.src, *dirs])
        if kind == "create" or (
            not files and kind in ("modify", "delete", "rename_file", "chmod", "hardlink")
        ):
            suffix = rng.choice([".txt", ".txt", ".py", ".tmp"])  # .tmp is ignored by the rule
            (where / (self._name("f") + suffix)).write_text(f"{rng.random()}\n")
        elif kind == "modify":
            f = rng.choice(files)
            with open(f, "r+") as fh:  # in place, same size: mtime-only compares would miss it
                data = fh.read()
                fh.seek(0)
                fh.write(data[::-1] if len(data) > 1 else "x")
        elif kind == "delete":
            rng.choice(files).unlink()
        elif kind == "rename_file":
            f = rng.choice(files)
            f.rename(where / (self._name("r") + f.suffix))
        elif kind == "mkdir":
            d = where / self._name("d")
            (d / "sub").mkdir(parents=True)
            (d / "a.txt").write_text("a")
            (d / "sub" / "b.txt").write_text("b")
        elif kind == "rmdir" and dirs:
            shutil.rmtree(rng.choice(dirs))
        elif kind == "rename_dir" and dirs:
            d = rng.choice(dirs)
            target = self.src / self._name("m")
            d.rename(target)
        elif kind == "chmod":
            f = rng.choice(files)
            f.chmod(rng.choice([0o600, 0o755, 0o644]))
        elif kind == "symlink":
            f = rng.choice(files)
            os.symlink(os.path.relpath(f, where), where / self._name("l"))
        elif kind == "hardlink":
            f = rng.choice([f for f in files if f.suffix != ".tmp"] or files)
            twin = f.parent / (self._name("h") + f.suffix)
            os.link(f, twin)
            with open(f, "a") as fh:  # one name written: both change
                fh.write("more\n")
        else:
            (self.src / (self._name("f") + ".txt")).write_text("fallback")

    def tree(self) -> dict[str, tuple]:
        """The host's filtered tree as the container must hold it under /app."""
        out: dict[str, tuple] = {}
        for p in self.src.rglob("*"):
            if p.name.endswith(".tmp"):
                continue
            rel = "/app/" + p.relative_to(self.src).as_posix()
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode)
            else:
                out[rel] = ("file", mode, hashlib.sha1(p.read_bytes()).hexdigest())
        return out


def container_tree(c) -> dict[str, tuple] | None:
    try:
        stream, _ = c.get_archive("/app")
        data = b"".join(stream)
        out: dict[str, tuple] = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for m in tar.getmembers():
                path = "/" + m.name.rstrip("/")
                if path == "/app" or path.startswith("/app/node_modules"):
                    continue
                if m.issym():
                    out[path] = ("link", m.linkname)
                elif m.isdir():
                    out[path] = ("dir", m.mode & 0o7777)
                else:
                    fh = tar.extractfile(m)
                    out[path] = ("file", m.mode & 0o7777, hashlib.sha1(fh.read() if fh else b"").hexdigest())
        return out
    except (docker.errors.APIError, tarfile.TarError):
        return None  # read mid-change


def diff(want: dict, have: dict | None) -> str:
    if have is None:
        return "unreadable"
    missing = sorted(set(want) - set(have))[:5]
    extra = sorted(set(have) - set(want))[:5]
    wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])[:5]
    return f"missing {missing} extra {extra} differ {[(k, want[k], have[k]) for k in wrong]}"


def run_sequence(seed: int, folder: Path, project: str, docker_client) -> int:
    rng = random.Random(seed)
    model = Model(folder, rng)
    (folder / "src").mkdir()
    (folder / "state").mkdir()
    (folder / "stamp").write_text("0")
    (folder / "Dockerfile").write_text(
        f"FROM {BUSYBOX}\nRUN mkdir -p /app/node_modules && echo keep > /app/node_modules/pkg.txt\n"
        "COPY stamp /stamp\nRUN sleep 1\n"
    )
    level = 0
    write_config(folder, level)
    for _ in range(6):
        model.edit(rng.choice(("create", "mkdir", "create")))
    up = DevrunUp(folder, project)
    checks = 0
    stamp = 0
    big: Path | None = None

    def app():
        return docker_client.containers.get(f"{project}-app")

    def start() -> DevrunUp:
        new = DevrunUp(folder, project)
        new.wait_for("ready", timeout=120)
        return new

    def quiet_point(step: str) -> None:
        nonlocal checks
        want = model.tree()
        try:
            wait_until(lambda: container_tree(app()) == want, 60, what=f"tree level after {step}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {diff(want, container_tree(app()))}\n{up.tail(40)}") from None
        up.settle(quiet=0.8, timeout=60)
        want = model.tree()
        have = container_tree(app())
        assert have == want, f"after {step}: {diff(want, have)}"
        c = app()
        assert c.status == "running", (step, c.status)
        now = c.exec_run(["sh", "-c", FINGERPRINT]).output.decode().strip()
        wait_until(
            lambda: (folder / "state/started.sum").read_text().strip() == now,
            20,
            what=f"the app restarted on the latest tree after {step}",
        )
        assert c.exec_run(["cat", "/app/node_modules/pkg.txt"]).output == b"keep\n", step
        assert c.exec_run(["cat", "/anon/value"]).output.decode() == f"anon-{seed}", step
        assert c.exec_run(["cat", "/named/value"]).output.decode() == f"named-{seed}", step
        env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
        assert env["LEVEL"] == str(level), step
        checks += 1

    try:
        up.wait_for("ready", timeout=120)
        wait_until(lambda: (folder / "state/started.sum").exists(), 20, what="app started")
        c = app()
        assert (
            c.exec_run(
                ["sh", "-c", f"printf anon-{seed} > /anon/value; printf named-{seed} > /named/value"]
            ).exit_code
            == 0
        )
        quiet_point("start")
        plan = [rng.choice(HOST_EDITS) for _ in range(STEPS)]
        for kind in rng.sample(LIFECYCLE, min(len(LIFECYCLE), max(1, STEPS // 2))):
            plan.insert(rng.randrange(len(plan) + 1), kind)
        for step in plan:
            if step in HOST_EDITS:
                model.edit(step)
            elif step in ("ctrl_c", "kill9"):
                if step == "ctrl_c":
                    assert up.stop(timeout=60) == 130, up.tail()
                else:
                    up.proc.kill()
                    up.proc.wait(10)
                for _ in range(rng.randint(1, 4)):  # edits while devrun is down
                    model.edit(rng.choice(HOST_EDITS))
                up = start()
            elif step == "pause":
                c = app()
                c.pause()
                try:
                    model.edit("delete")
                    model.edit("create")
                    time.sleep(1.0)  # the batch meets the paused container
                finally:
                    c.unpause()
            elif step == "crash_fix":
                up.settle(quiet=0.8, timeout=60)
                (folder / "src/crash").write_text("bad edit")
                wait_until(lambda: app().status == "exited", 30, what="app crashed")
                (folder / "src/crash").unlink()
                model.edit("modify")
            elif step in ("rebuild", "config_during_rebuild"):
                up.settle(quiet=0.8, timeout=60)
                rebuilds = len(up.of("action_finished", action="rebuild"))
                stamp += 1
                (folder / "stamp").write_text(str(stamp))
                if step == "config_during_rebuild":
                    up.wait_for("action_started", action="rebuild", timeout=30)
                    time.sleep(0.3)
                    level += 1
                    write_config(folder, level)
                    up.wait_for("config_reloaded", timeout=60)
                up.wait_for("action_finished", action="rebuild", count=rebuilds + 1, timeout=120)
            elif step == "big":
                if big is None:
                    big = folder / "src/big"
                    for d in range(max(1, BIG_FILES // 100)):
                        (big / f"d{d}").mkdir(parents=True)
                        for f in range(min(100, BIG_FILES)):
                            (big / f"d{d}" / f"f{f}.txt").write_text(f"{d}.{f}")
                quiet_point("big folder created")
                shutil.rmtree(big)
            quiet_point(step)
        return checks
    finally:
        up.stop(timeout=60)
        devrun("down", "-v", "-p", project, cwd=folder)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_sequences_keep_the_container_level(tmp_path, project_name, docker_client, seed):
    checks = run_sequence(seed, tmp_path, project_name, docker_client)
    print(f"model: seed {seed}: {checks} quiet points checked")
    assert checks >= STEPS
