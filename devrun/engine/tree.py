"""One file tree entry as plain data, read from either side: a host path
(lstat) or the engine's archive stream of a container folder. Reconciling
compares the two by type, mode, link target and content digest; mtimes are
not compared (an edit inside the same second as the last copy keeps them equal)."""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class TreeEntry:
    kind: str  # "file", "dir", "link", "other"
    mode: int  # permission bits
    size: int = 0
    link: str = ""  # a symlink's target
    digest: str = ""  # a file's sha1; "" where not read


def digest_file(path: str) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def host_entry(path: str, *, with_digest: bool = False) -> TreeEntry | None:
    """The entry for a host path, or None if it vanished or is unreadable."""
    try:
        st = os.lstat(path)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            return TreeEntry("link", mode, link=os.readlink(path))
        if stat.S_ISDIR(st.st_mode):
            return TreeEntry("dir", mode)
        if stat.S_ISREG(st.st_mode):
            return TreeEntry("file", mode, st.st_size, digest=digest_file(path) if with_digest else "")
    except OSError:
        return None
    return TreeEntry("other", stat.S_IMODE(st.st_mode))


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "link"
    if member.isdir():
        return "dir"
    if member.isfile() or member.islnk():
        return "file"
    return "other"


def read_tree(stream: IO[bytes], target: str) -> dict[str, TreeEntry]:
    """Entries of the engine's archive of `target`, keyed by container path.
    The archive names members after target's last component; hard links inside
    it count as files with the content of the file they link to."""
    target = posixpath.normpath(target)
    top = posixpath.basename(target)
    parent = posixpath.dirname(target)
    out: dict[str, TreeEntry] = {}
    digests: dict[str, tuple[int, str]] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for m in tar:
            name = posixpath.normpath(m.name)
            if name != top and not name.startswith(top + "/"):
                continue
            path = posixpath.join(parent, name)
            kind = _kind(m)
            size, digest = m.size, ""
            if m.isfile():
                h = hashlib.sha1()
                fh = tar.extractfile(m)
                if fh is not None:
                    for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        h.update(block)
                digest = h.hexdigest()
                digests[name] = (size, digest)
            elif m.islnk():
                size, digest = digests.get(posixpath.normpath(m.linkname), (0, ""))
            out[path] = TreeEntry(kind, m.mode & 0o7777, size, m.linkname if m.issym() else "", digest)
    return out


class _ChunkRaw(io.RawIOBase):
    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        while not self._chunk:
            try:
                self._chunk = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buf), len(self._chunk))
        buf[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        return n


def ChunkReader(chunks: Iterable[bytes]) -> IO[bytes]:  # noqa: N802 - reads like the class it returns
    """A read()-able view of an iterator of byte chunks (the archive API's
    response), so tarfile streams it without holding it all in memory."""
    return io.BufferedReader(_ChunkRaw(chunks), buffer_size=1 << 16)


# The container's side without its contents, for an engine across a slow link:
# the archive of a 100 MB folder is 100 MB down the link; this listing is about
# 100 bytes a file, and the digests are made in the container. find, stat,
# sha1sum and readlink are in busybox and in coreutils/findutils; where any is
# missing the script fails and the archive is read instead.
LISTING_SCRIPT = r"""t="$1"
[ -e "$t" ] || [ -L "$t" ] || exit 0
find "$t" -exec stat -c 'S|%F|%a|%s|%n' {} + || exit 91
find "$t" -type f -exec sha1sum {} + | sed 's/^/H|/' || exit 92
find "$t" -type l -exec sh -c 'for f; do l=$(readlink "$f"); printf "L|%d|%s|%s\n" "${#l}" "$l" "$f"; done' _ {} + || exit 93
"""


def parse_listing(lines: Iterable[str], target: str) -> dict[str, TreeEntry] | None:
    """Entries from LISTING_SCRIPT's output, keyed by container path, or None
    when a line cannot be read for certain (a name with a newline or an
    undecodable byte, an escaped sha1sum name): then the archive decides."""
    target = posixpath.normpath(target)

    def ours(name: str) -> bool:
        return name == target or name.startswith(target.rstrip("/") + "/")

    kinds: dict[str, tuple[str, int, int]] = {}
    digests: dict[str, str] = {}
    links: dict[str, str] = {}
    for line in lines:
        if "\ufffd" in line:
            return None
        tag, _, rest = line.partition("|")
        if tag == "S":
            parts = rest.split("|", 3)
            if len(parts) != 4 or not ours(parts[3]):
                return None
            kind_text, mode, size, name = parts
            try:
                kinds[name] = (kind_text, int(mode, 8), int(size))
            except ValueError:
                return None
        elif tag == "H":
            digest, sep, name = rest.partition("  ")
            if not sep or len(digest) != 40 or not ours(name):
                return None  # a name sha1sum escaped (a backslash or newline in it)
            digests[name] = digest
        elif tag == "L":
            length, _, tail = rest.partition("|")
            try:
                n = int(length)
            except ValueError:
                return None
            link, sep, name = tail[:n], tail[n : n + 1], tail[n + 1 :]
            if sep != "|" or not ours(name):
                return None
            links[name] = link
        else:
            return None
    out: dict[str, TreeEntry] = {}
    for name, (kind_text, mode, size) in kinds.items():
        if kind_text.startswith("regular"):
            if name not in digests:
                return None
            out[name] = TreeEntry("file", mode & 0o7777, size, digest=digests[name])
        elif kind_text == "directory":
            out[name] = TreeEntry("dir", mode & 0o7777)
        elif kind_text == "symbolic link":
            if name not in links:
                return None
            out[name] = TreeEntry("link", mode & 0o7777, link=links[name])
        else:
            out[name] = TreeEntry("other", mode & 0o7777)
    return out
