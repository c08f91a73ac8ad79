"""Images: present, inspected, pulled, built, listed and removed (part of
devrun.engine.docker.Engine)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from typing import Any

import docker
import docker.errors

from devrun import __version__, labels
from devrun.config.model import BuildSpec
from devrun.engine import context
from devrun.engine.calls import translate
from devrun.engine.protocol import LargeContext, Progress
from devrun.errors import EngineError
from devrun.plan import (
    ImageDetails,
    ImageInfo,
)


def _shell_cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "devrun", "image-shell.json")


def _load_shell_cache() -> dict[str, bool]:
    try:
        with open(_shell_cache_path()) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return (
        {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, bool)}
        if isinstance(data, dict)
        else {}
    )


def _save_shell_cache(cache: dict[str, bool]) -> None:
    # best effort: a read-only home only costs the probe again next time
    path = _shell_cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(dict(list(cache.items())[-500:]), f)
        os.replace(tmp, path)
    except OSError:
        pass


class Images:
    """The image half of the Engine; needs `self.api`, `self.client`, `self._lock`, `self._shell_cache`."""

    api: Any
    client: docker.DockerClient
    _lock: threading.Lock
    _shell_cache: dict[str, bool]

    def has_image(self, ref: str) -> bool:
        """Whether the image is present locally (no container created, unlike image_info)."""
        with translate(f"image {ref}"):
            try:
                self.api.inspect_image(ref)
            except docker.errors.NotFound:
                return False
        return True

    def image_info(self, ref: str) -> ImageInfo | None:
        """The image's id and default argv, or None when it is not present."""
        with translate(f"image {ref}"):
            try:
                data = self.api.inspect_image(ref)
            except docker.errors.NotFound:  # ImageNotFound too
                return None
        cfg = data.get("Config") or {}
        image_id = data["Id"]
        return ImageInfo(
            ref=ref,
            id=image_id,
            entrypoint=tuple(cfg.get("Entrypoint") or ()),
            cmd=tuple(cfg.get("Cmd") or ()),
            has_shell=self.image_has_shell(image_id),
        )

    def image_has_shell(self, image_id: str) -> bool:
        """Whether /bin/sh exists in the image: read it from a created (never
        started) container (~75 ms). An image id names immutable content, so the
        answer is kept on disk and every later `up` skips the probe."""
        with self._lock:
            if image_id in self._shell_cache:
                return self._shell_cache[image_id]
        found = False
        with translate(f"image {image_id[:19]}"):
            c = self.api.create_container(
                image_id,
                command=["true"],
                entrypoint=[],
                labels={labels.VERSION: __version__},
                network_disabled=True,
            )
            try:
                stream, _stat = self.api.get_archive(c["Id"], "/bin/sh")
                for _ in stream:
                    pass
                found = True
            except docker.errors.NotFound:
                found = False
            finally:
                self.api.remove_container(c["Id"], force=True)
        with self._lock:
            self._shell_cache[image_id] = found
            _save_shell_cache(self._shell_cache)
        return found

    def pull(self, ref: str, progress: Progress) -> ImageInfo:
        repo, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")

        def unpullable(reason: str) -> str:
            return (
                f"image {ref} is not on this machine and cannot be pulled ({reason}); "
                "check the name, your network, or build/load it locally"
            )

        with translate(say=unpullable):
            for item in self.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
                if "error" in item:
                    raise EngineError(f"cannot pull image {ref}: {item['error']}")
                status = item.get("status", "")
                if status and "id" not in item:
                    progress(status)
        info = self.image_info(ref)
        if info is None:
            raise EngineError(f"image {ref}: pulled but not found afterwards")
        return info

    def build(
        self, service: str, spec: BuildSpec, tag: str, progress: Progress, large: LargeContext | None = None
    ) -> ImageInfo:
        """docker build with streamed output; a failure names the failing step
        and ends with the tail of its log. `large(bytes, biggest entries)` is
        told, before it is sent, of a context over context.LARGE."""
        log: list[str] = []
        step = ""
        with (
            contextlib.ExitStack() as stack,
            translate(say=lambda reason: f"service {service}: build failed: {reason}"),
        ):
            dockerfile = spec.dockerfile
            if spec.dockerfile_inline is not None:
                # outside the context, docker-py sends the file along with it under a name of its own
                inline = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".Dockerfile"))
                inline.write(spec.dockerfile_inline)
                inline.flush()
                dockerfile = inline.name
            tar, dockerfile = context.make(spec.context, dockerfile)
            stack.enter_context(tar)
            size = context.size_of(tar)
            if large is not None and size > context.LARGE:
                large(size, context.biggest(tar))
            stream = self.api.build(
                fileobj=tar,
                custom_context=True,
                dockerfile=dockerfile,
                tag=tag,
                buildargs=spec.args or None,
                target=spec.target,
                rm=True,
                forcerm=True,
                decode=True,
                labels={labels.VERSION: __version__},
            )
            for item in stream:
                if "error" in item:
                    tail = "\n".join(f"  {line}" for line in log[-10:])
                    where = f" at {step}" if step else ""
                    msg = item["error"].strip()
                    raise EngineError(
                        f"service {service}: build failed{where}: {msg}" + (f"\n{tail}" if tail else "")
                    )
                text = item.get("stream") or item.get("status") or ""
                for line in text.splitlines():
                    if not line.strip():
                        continue
                    if line.startswith("Step "):
                        step = line.strip()
                    elif not line.lstrip().startswith(("--->", "Removing intermediate container")):
                        log.append(line.rstrip())  # the step's own output, for the failure tail
                    progress(line.rstrip())
        info = self.image_info(tag)
        if info is None:
            raise EngineError(f"service {service}: build finished but image {tag} is missing")
        return info

    def image_details(self, ref: str) -> ImageDetails | None:
        """Id, tags and size of an image, or None when it is not present."""
        with translate(f"image {ref}"):
            try:
                data = self.api.inspect_image(ref)
            except docker.errors.NotFound:
                return None
        return ImageDetails(str(data["Id"]), tuple(data.get("RepoTags") or ()), int(data.get("Size") or 0))

    def remove_image(self, ref: str) -> bool:
        """Remove an image by reference; False when it was not there."""
        with translate(f"remove image {ref}"):
            try:
                self.api.remove_image(ref)
            except docker.errors.NotFound:
                return False
        return True
