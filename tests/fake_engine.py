"""The one fake engine for pure-logic tests: devrun.engine.protocol.Engine in
memory. Containers are plain ContainerState records; every call that changes
something is recorded in `calls` as (method, first argument); `events()`
answers are scripted. What the real engine does (archives, builds, processes)
is the real-engine tests' business: here those calls are recorded and answer
the simplest thing.

    engine = FakeEngine(events=[EventFeed([EngineEvent("start", "c1", "app", 1.0)])])
    engine.add("app", "c1", project="p")
"""

from __future__ import annotations

import dataclasses
import queue
from collections.abc import Callable, Iterator
from typing import Any

from devrun import labels
from devrun.engine.protocol import EngineEvent, Progress
from devrun.engine.tree import TreeEntry
from devrun.errors import EngineError
from devrun.plan import (
    ContainerSpec,
    ContainerState,
    ImageDetails,
    ImageInfo,
    Network,
    Observed,
    PathStat,
    config_hash,
)

END = object()  # put into an EventFeed: the engine went away


class EventFeed:
    """An event stream fed by the test: yields what is put in until END or close()."""

    def __init__(self, events: tuple[EngineEvent, ...] | list[EngineEvent] = ()):
        self.q: queue.Queue = queue.Queue()
        for ev in events:
            self.q.put(ev)

    def put(self, item: EngineEvent | object) -> None:
        self.q.put(item)

    def __iter__(self) -> Iterator[EngineEvent]:
        while (item := self.q.get()) is not END:
            yield item

    def close(self) -> None:
        self.q.put(END)


@dataclasses.dataclass
class _Container:
    project: str
    service: str
    state: ContainerState
    config_hash: str = ""


class FakeEngine:
    where = "fake://engine"

    def __init__(self, *, events: list[EventFeed | Exception] | None = None):
        self.containers: dict[str, _Container] = {}
        self.images: dict[str, ImageInfo] = {}
        self.calls: list[tuple[str, str]] = []  # (method, first argument) of every change
        self.events_answers: list[EventFeed | Exception] = list(events or ())
        self.events_calls: list[float | None] = []  # `since` of each events() call
        self.log_calls: list[tuple[str, float | None]] = []  # (container, since) of each logs() call
        self.log_lines: dict[str, list[tuple[str, str]]] = {}  # container -> (stream, line)

    # ---- set-up for tests

    def add(
        self, service: str, cid: str, *, project: str = "fake", running: bool = True, **state: Any
    ) -> str:
        """A container of `service`; `state` overrides ContainerState fields."""
        base = ContainerState(
            running=running,
            paused=False,
            status="running" if running else "exited",
            exit_code=None if running else 0,
            started_at="",
            restart_mode="container",
            name=f"{project}-{service}",
            labels={labels.PROJECT: project, labels.SERVICE: service},
        )
        self.containers[cid] = _Container(project, service, dataclasses.replace(base, **state))
        return cid

    def _get(self, cid: str) -> _Container:
        try:
            return self.containers[cid]
        except KeyError:
            raise EngineError(f"container {cid[:12]}: not found (fake)") from None

    def _set(self, cid: str, **fields: Any) -> None:
        c = self._get(cid)
        c.state = dataclasses.replace(c.state, **fields)

    def _record(self, method: str, arg: str) -> None:
        self.calls.append((method, arg))

    # ---- engine and images

    def versions(self) -> tuple[str, str]:
        return "fake", "1.41"

    def has_image(self, ref: str) -> bool:
        return ref in self.images

    def image_info(self, ref: str) -> ImageInfo | None:
        return self.images.get(ref)

    def image_has_shell(self, image_id: str) -> bool:
        return any(i.has_shell for i in self.images.values() if i.id == image_id)

    def image_details(self, ref: str) -> ImageDetails | None:
        info = self.images.get(ref) or next((i for i in self.images.values() if i.id == ref), None)
        return ImageDetails(info.id, (info.ref,), 0) if info else None

    def pull(self, ref: str, progress: Progress) -> ImageInfo:
        self._record("pull", ref)
        return self.images.setdefault(ref, ImageInfo(ref, f"sha256:{ref}", has_shell=True))

    def build(self, service: str, spec: Any, tag: str, progress: Progress, large: Any = None) -> ImageInfo:
        self._record("build", service)
        return self.images.setdefault(tag, ImageInfo(tag, f"sha256:{tag}", has_shell=True))

    def remove_image(self, ref: str) -> bool:
        self._record("remove_image", ref)
        return self.images.pop(ref, None) is not None

    # ---- networks and volumes

    def find_clashes(
        self, project: str, containers: list[str], networks: list[str], volumes: list[str]
    ) -> list[str]:
        return []

    def ensure_network(self, project: str, name: str, spec: Network | None = None) -> str:
        self._record("ensure_network", name)
        return name

    def ensure_volume(self, project: str, name: str, volume: str) -> str:
        self._record("ensure_volume", name)
        return name

    def remove_network(self, name: str) -> None:
        self._record("remove_network", name)

    def remove_volume(self, name: str) -> None:
        self._record("remove_volume", name)

    def project_networks(self, project: str) -> list[str]:
        return []

    def project_volumes(self, project: str) -> list[str]:
        return []

    # ---- containers

    def project_containers(self, project: str) -> list[Observed]:
        return sorted(
            (
                Observed(cid, c.state.name, c.service, c.state.status, c.config_hash, c.state.restart_mode)
                for cid, c in self.containers.items()
                if c.project == project
            ),
            key=lambda o: o.service,
        )

    def published_ports(self, project: str) -> set[tuple[int, str]]:
        return {
            (p.host_port, p.protocol)
            for c in self.containers.values()
            if c.project == project and c.state.running
            for p in c.state.ports
        }

    def state(self, container_id: str) -> ContainerState:
        return self._get(container_id).state

    def create(self, spec: ContainerSpec, inherit: tuple[tuple[str, str], ...] = ()) -> str:
        cid = f"{spec.name}-{len(self.containers)}"
        self._record("create", spec.service)
        self.add(spec.service, cid, project=spec.project, running=False, status="created", name=spec.name)
        self.containers[cid].config_hash = config_hash(spec)
        return cid

    def create_oneoff(self, spec: ContainerSpec, label_patch: dict[str, str | None], *, stdin: bool) -> str:
        return self.create(spec)

    def start(self, container_id: str) -> None:
        self._record("start", container_id)
        self._set(container_id, running=True, status="running", exit_code=None)

    def stop(self, container_id: str, timeout: float) -> None:
        self._record("stop", container_id)
        self._set(container_id, running=False, status="exited", exit_code=0)

    def restart(self, container_id: str, timeout: float) -> None:
        self._record("restart", container_id)
        self._set(container_id, running=True, status="running", exit_code=None)

    def restart_process(self, container_id: str) -> None:
        self._record("restart_process", container_id)

    def kill(self, container_id: str, signal: str) -> None:
        self._record("kill", container_id)

    def pause(self, container_id: str, pause: bool = True) -> None:
        self._record("pause" if pause else "unpause", container_id)
        self._set(container_id, paused=pause)

    def wait(self, container_id: str) -> int:
        return int(self._get(container_id).state.exit_code or 0)

    def remove(self, container_id: str, *, volumes: bool = False) -> None:
        self._record("remove", container_id)
        self.containers.pop(container_id, None)

    def rename(self, container_id: str, name: str) -> None:
        self._record("rename", container_id)
        self._set(container_id, name=name)

    def start_count(self, container_id: str, created: float) -> int:
        return 1

    def top(self, container_id: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        return ("PID", "CMD"), []

    # ---- files

    def tree(self, container_id: str, target: str, expect_bytes: int = 0) -> dict[str, TreeEntry]:
        return {}

    def put_archive(self, container_id: str, path: str, data: bytes) -> None:
        self._record("put_archive", container_id)

    def get_archive(self, container_id: str, path: str) -> Iterator[bytes]:
        return iter(())

    def path_stat(self, container_id: str, path: str) -> PathStat | None:
        return None

    # ---- processes, logs, events

    def exec(
        self,
        container_id: str,
        argv: list[str],
        on_line: Callable[[str, str], None],
        *,
        user: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        privileged: bool = False,
    ) -> int:
        self._record("exec", container_id)
        return 0

    def exec_io(
        self,
        container_id: str,
        argv: list[str],
        out: Callable[[int, bytes], None],
        *,
        stdin: Any = None,
        user: str | None = None,
        workdir: str | None = None,
        env: dict[str, str] | None = None,
        privileged: bool = False,
        detach: bool = False,
    ) -> int:
        self._record("exec_io", container_id)
        return 0

    def run_io(self, container_id: str, out: Callable[[int, bytes], None], *, stdin: Any = None) -> int:
        self.start(container_id)
        return self.wait(container_id)

    def logs(
        self,
        container_id: str,
        *,
        follow: bool,
        tail: int | str = "all",
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> Iterator[tuple[str, str]]:
        self.log_calls.append((container_id, since))
        return iter(list(self.log_lines.get(container_id, ())))

    def events(self, project: str, since: float | None = None) -> EventFeed:
        """The next scripted answer; with none left, the engine is unreachable."""
        self.events_calls.append(since)
        answer = (
            self.events_answers.pop(0)
            if self.events_answers
            else EngineError("cannot reach the Docker engine")
        )
        if isinstance(answer, Exception):
            raise answer
        return answer
