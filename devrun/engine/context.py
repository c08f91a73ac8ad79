"""The build context as docker-py sends it, made once so its size is known
before it goes: docker-py's own steps (`.dockerignore` read as it reads it,
the Dockerfile kept or carried along, `docker.utils.tar`), then handed to
the build as a ready tar. A context over LARGE bytes is reported with its
biggest top-level entries, read from the tar's headers, not the tree again."""

from __future__ import annotations

import os
import tarfile
from collections import Counter
from typing import IO

from docker.api.build import process_dockerfile
from docker.utils import tar

LARGE = 50 * 2**20


def _dockerignore(path: str) -> list[str] | None:
    """The patterns as docker-py's build reads them (blank lines and comments dropped)."""
    try:
        with open(os.path.join(path, ".dockerignore")) as f:
            lines = [line.strip() for line in f.read().splitlines()]
    except FileNotFoundError:
        return None
    return [line for line in lines if line and not line.startswith("#")]


def make(path: str, dockerfile: str | None) -> tuple[IO[bytes], str | None]:
    """(the context tar, at its start; the Dockerfile's name inside it)."""
    name_and_text = process_dockerfile(dockerfile, path)
    return tar(path, exclude=_dockerignore(path), dockerfile=name_and_text), name_and_text[0]


def size_of(fileobj: IO[bytes]) -> int:
    return os.fstat(fileobj.fileno()).st_size


def biggest(fileobj: IO[bytes], n: int = 3) -> list[tuple[str, int]]:
    """Up to n of the largest top-level entries (a folder as `name/`) by bytes
    of file content; the file is left at its start."""
    sizes: Counter[str] = Counter()
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as t:
            for member in t:
                top, sep, _rest = member.name.partition("/")
                sizes[top + ("/" if sep or member.isdir() else "")] += member.size
    finally:
        fileobj.seek(0)
    total = sum(sizes.values())
    # an entry under a twentieth of the whole would not shrink it noticeably
    return [(name, size) for name, size in sizes.most_common(n) if size and size * 20 >= total]
