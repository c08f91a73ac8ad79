"""Log streams -> lines: linear time, capped lines, UTF-8 split across frames.

Unit tests feed engine_wire.log_lines a fake response; the docker tests read a
40 MB newline-free line and a 100,000-line flood through Engine.logs in a
subprocess that reports its own CPU time and peak memory."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import uuid

import pytest

from devrun.engine.wire import LINE_CONTINUES, MAX_LINE_CHARS, StreamLines, log_lines
from tests.conftest import BUSYBOX, LABEL_PROJECT, REPO

STDOUT, STDERR = 1, 2


def frame(kind: int, data: bytes) -> bytes:
    """One frame of the engine's multiplexed stream: 8-byte header, then the bytes."""
    return struct.pack(">BxxxL", kind, len(data)) + data


class FakeRaw:
    """The response's raw stream, answering reads from a list of chunks: read1
    returns one chunk (as a socket would), read(n) exactly n bytes or what is left."""

    def __init__(self, chunks: list[bytes]):
        self._chunks = list(chunks)

    def read1(self, _n: int) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n and self._chunks:
            chunk = self._chunks.pop(0)
            take = n - len(out)
            out += chunk[:take]
            if chunk[take:]:
                self._chunks.insert(0, chunk[take:])
        return out


class FakeResponse:
    def __init__(self, chunks: list[bytes]):
        self.raw = FakeRaw(chunks)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def multiplexed(*frames: tuple[int, bytes]) -> list[tuple[str, str]]:
    return list(log_lines(FakeResponse([frame(kind, data) for kind, data in frames]), tty=False))


def test_multibyte_character_split_across_frames_survives():
    euro = "€".encode()  # 3 bytes
    lines = multiplexed((STDOUT, b"price " + euro[:1]), (STDOUT, euro[1:2]), (STDOUT, euro[2:] + b"5\n"))
    assert lines == [("stdout", "price €5")]


def test_multibyte_character_split_across_tty_chunks_survives():
    text = "naïve 日本\n".encode()
    chunks = [text[i : i + 1] for i in range(len(text))]  # every byte its own read
    res = FakeResponse(chunks)
    assert list(log_lines(res, tty=True)) == [("stdout", "naïve 日本")]
    assert res.closed


def test_invalid_bytes_become_replacement_characters():
    assert multiplexed((STDOUT, b"bad \xff byte\n")) == [("stdout", "bad \ufffd byte")]


def test_line_over_the_cap_is_split_into_marked_pieces():
    long_line = "a" * MAX_LINE_CHARS + "b" * MAX_LINE_CHARS + "c" * 10
    data = long_line.encode() + b"\nnext\n"
    frames = [(STDOUT, data[i : i + 16384]) for i in range(0, len(data), 16384)]
    lines = [line for _, line in multiplexed(*frames)]
    assert lines == [
        "a" * MAX_LINE_CHARS + LINE_CONTINUES,
        "b" * MAX_LINE_CHARS + LINE_CONTINUES,
        "c" * 10,
        "next",
    ]


def test_line_of_exactly_the_cap_is_not_split():
    data = b"x" * MAX_LINE_CHARS + b"\r\n"
    frames = [(STDOUT, data[i : i + 1000]) for i in range(0, len(data), 1000)]
    assert multiplexed(*frames) == [("stdout", "x" * MAX_LINE_CHARS)]


def test_unfinished_line_goes_out_in_pieces_before_it_ends():
    """A line still being written shows up piece by piece: nothing waits for the newline."""
    piece = b"z" * MAX_LINE_CHARS
    res = FakeResponse([frame(STDOUT, piece), frame(STDOUT, piece), frame(STDOUT, b"z")])
    lines = log_lines(res, tty=False)
    assert next(lines) == ("stdout", "z" * MAX_LINE_CHARS + LINE_CONTINUES)
    assert next(lines) == ("stdout", "z" * MAX_LINE_CHARS + LINE_CONTINUES)
    assert list(lines) == [("stdout", "z")]


def test_crlf_and_lone_cr():
    lines = multiplexed((STDOUT, b"one\r\ntwo\r"), (STDOUT, b"\nthree\rstill three\n"))
    assert lines == [("stdout", "one"), ("stdout", "two"), ("stdout", "three\rstill three")]


def test_stdout_and_stderr_interleave_without_mixing_their_lines():
    lines = multiplexed(
        (STDOUT, b"out one\nout "),
        (STDERR, b"err one\nerr "),
        (STDOUT, b"two\n"),
        (STDERR, b"two\n"),
    )
    assert lines == [
        ("stdout", "out one"),
        ("stderr", "err one"),
        ("stdout", "out two"),
        ("stderr", "err two"),
    ]


def test_rest_without_newline_is_flushed_at_the_end():
    res = FakeResponse([frame(STDOUT, b"done\nno newline"), frame(STDERR, b"err rest")])
    assert list(log_lines(res, tty=False)) == [
        ("stdout", "done"),
        ("stdout", "no newline"),
        ("stderr", "err rest"),
    ]
    assert res.closed


def test_truncated_multibyte_character_at_the_end_is_flushed_as_replacement():
    assert multiplexed((STDOUT, b"cut \xe2\x82")) == [("stdout", "cut \ufffd")]


def test_exec_output_keeps_a_character_split_across_chunks():
    """The exec path splits with the same per-stream splitter as logs."""
    lines = StreamLines()
    data = "héllo wörld\n".encode()
    got = [line for i in range(len(data)) for line in lines.feed(data[i : i + 1])]
    assert got + lines.finish() == ["héllo wörld"]


# ---- the real engine ---------------------------------------------------------

# Runs in a fresh interpreter so the peak RSS it reports starts from devrun's
# own baseline, not from whatever this pytest process has allocated.
MEASURE = """
import json, resource, sys, time
from devrun.engine.docker import Engine

engine = Engine.connect()
before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu_start = time.process_time()
lines = x_chars = longest = 0
last = ""
for _stream, line in engine.logs(sys.argv[1], follow=False):
    lines += 1
    x_chars += line.count("x")
    longest = max(longest, len(line))
    last = line
print(json.dumps({
    "cpu_s": time.process_time() - cpu_start,
    "rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024,
    "lines": lines, "x_chars": x_chars, "longest": longest, "last": last[-20:],
}))
"""

# A generous bound on a loaded 2-core machine: the linear parse of 40 MB takes
# well under a second, the old quadratic one took over a minute.
CPU_BOUND_S = 10
RSS_BOUND_MB = 100


def run_to_exit(docker_client, project_name: str, script: str) -> str:
    container = docker_client.containers.run(
        BUSYBOX,
        ["sh", "-c", script],
        detach=True,
        labels={LABEL_PROJECT: project_name},
        name=f"{project_name}-{uuid.uuid4().hex[:6]}",
    )
    assert container.wait(timeout=300)["StatusCode"] == 0
    return container.id


def measure_logs(container_id: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, container_id],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.docker
def test_40mb_line_without_newline_is_parsed_in_linear_time(docker_client, project_name):
    size = 40_000_000
    cid = run_to_exit(docker_client, project_name, f"head -c {size} /dev/zero | tr '\\0' x; echo")
    m = measure_logs(cid)
    print(f"40 MB line: {m['cpu_s']:.2f} CPU s, RSS +{m['rss_growth_mb']:.1f} MB, {m['lines']} pieces")
    assert m["x_chars"] == size  # every byte arrived
    assert m["cpu_s"] < CPU_BOUND_S
    assert m["rss_growth_mb"] < RSS_BOUND_MB
    assert m["longest"] <= MAX_LINE_CHARS + len(LINE_CONTINUES)
    assert m["lines"] == -(-size // MAX_LINE_CHARS)  # pieces of the cap, the last one shorter


@pytest.mark.docker
def test_100k_line_flood_arrives_whole(docker_client, project_name):
    cid = run_to_exit(docker_client, project_name, "seq 1 100000")
    m = measure_logs(cid)
    print(f"100k lines: {m['cpu_s']:.2f} CPU s, RSS +{m['rss_growth_mb']:.1f} MB")
    assert (m["lines"], m["last"]) == (100_000, "100000")
    assert m["cpu_s"] < CPU_BOUND_S
    assert m["rss_growth_mb"] < RSS_BOUND_MB
