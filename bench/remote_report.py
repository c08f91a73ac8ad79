"""The "Remote engine" section of docs/benchmarks.md, from bench/remote.py's results.

`make bench` regenerates the rest of the file and keeps this section (it reads
bench/results/remote-latest.json); `make bench-remote` rewrites only this section."""

from __future__ import annotations

import json
from pathlib import Path

START, END = "<!-- remote:start -->", "<!-- remote:end -->"
LATEST = Path(__file__).resolve().parent / "results" / "remote-latest.json"
COMPOSE_ACTION = {"sync": "sync", "restart": "sync+restart", "signal": 'sync+exec `sh -c "kill -HUP 1"`'}
DEVRUN_ACTION = {"sync": "sync", "restart": "restart (the process)", "signal": "signal SIGHUP"}


def _median(results: dict, tool: str, kind: str) -> float | None:
    return ((results.get("edits", {}).get(tool) or {}).get("kinds", {}).get(kind) or {}).get("median_ms")


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _fmt(x) -> str:
    return "-" if x is None else (f"{x:g}" if isinstance(x, float) else str(x))


def targets(results: dict) -> list[tuple[str, str, bool | None]]:
    out = []
    for kind in ("sync", "restart", "signal"):
        r = _ratio(_median(results, "devrun", kind), _median(results, "compose", kind))
        out.append((f"remote {kind}: devrun / compose <= 0.5", _fmt(r), None if r is None else r <= 0.5))
    tree = results.get("tree", {})
    d, c = (tree.get("devrun") or {}).get("seconds"), (tree.get("compose") or {}).get("seconds")
    if d is not None and c is None and (tree.get("compose") or {}).get("timeout_s"):
        out.append(("10,000-file initial sync: devrun <= compose", f"{d} s; compose unfinished", True))
    else:
        r = _ratio(d, c)
        out.append(("10,000-file initial sync: devrun <= compose", _fmt(r), None if r is None else r <= 1))
    n = (results.get("edits", {}).get("devrun") or {}).get("ssh_connections_during_edits")
    out.append(
        (
            "ssh connections during the edits: devrun opens none (its one connection stays)",
            _fmt(n),
            None if n is None else n == 0,
        )
    )
    return out


def section(results: dict) -> list[str]:
    meta = results["meta"]
    ed = results.get("edits", {})
    lines = [
        START,
        "## Remote engine (issue 13)",
        "",
        f"`{meta.get('command')}`, {meta.get('started')}, {meta.get('duration_s', 0):.0f} s, from `{meta.get('results_file')}`.",
        f"Both tools reach the same engine (Docker {meta.get('engine')}; compose {meta.get('compose_version')}) at",
        f"{meta.get('link')}, one tool after the other. devrun's app answers on its port forward (127.0.0.1),",
        "compose's on the box's published port over the same link. compose has no process restart and no",
        "signal action: its rows are the closest it offers. Load average at start"
        f" {'/'.join(f'{x:.1f}' for x in meta.get('loadavg_start', []))}, at end {'/'.join(f'{x:.1f}' for x in meta.get('loadavg_end', []))}.",
        "",
        "| edit | devrun action | devrun median ms | compose action | compose median ms | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in ("sync", "restart", "signal"):
        d, c = _median(results, "devrun", kind), _median(results, "compose", kind)
        lines.append(
            f"| {kind} | {DEVRUN_ACTION[kind]} | {_fmt(d)} | {COMPOSE_ACTION[kind]} | {_fmt(c)} | {_fmt(_ratio(d, c))} |"
        )
    lines += ["", "| | devrun | compose |", "| --- | --- | --- |"]
    for key, name in (
        ("edits", "edits (cycling sync, restart, signal)"),
        ("ssh_connections_during_edits", "ssh connections sshd accepted during the edits"),
        ("ssh_connections_whole_run", "ssh connections in the whole run (up to down)"),
        ("start_s", "`up` to the app answering, s"),
    ):
        lines.append(
            f"| {name} | {_fmt((ed.get('devrun') or {}).get(key))} | {_fmt((ed.get('compose') or {}).get(key))} |"
        )
    tree = results.get("tree", {})
    if tree:

        def t(tool: str) -> str:
            r = tree.get(tool) or {}
            if r.get("seconds") is not None:
                return f"{r['seconds']} s"
            return f"unfinished after {r.get('timeout_s')} s ({r.get('files')} files)" if r else "-"

        lines.append(
            f"| initial sync of 10,000 files, 102.4 MB of source-like text | {t('devrun')} | {t('compose')} |"
        )

        def again(tool: str) -> str:
            v = (tree.get(tool) or {}).get("again_s")
            return "-" if v is None else f"{v} s"

        lines.append(
            "| then Ctrl-C, one file edited, started again: until that edit is in the container "
            f"| {again('devrun')} | {again('compose')} |"
        )
    if tree:
        lines += [
            "",
            "Started again, the container is stopped, and a stopped container cannot run the listing that keeps",
            "the comparison small: devrun starts it first (held in process mode; otherwise the app is restarted",
            "once the tree is level) and lists it, where reading it back would bring the whole 100 MB over the",
            "link. compose copies the whole tree again.",
        ]
    lines += ["", "| target | measured | |", "| --- | --- | --- |"]
    for name, value, ok in targets(results):
        lines.append(
            f"| {name} | {value} | {'met' if ok else ('not measured' if ok is None else 'MISSED')} |"
        )
    lines += ["", "Per kind, ms (min / median / p90 / max, misses):", ""]
    for tool in ("devrun", "compose"):
        for kind, s in ((ed.get(tool) or {}).get("kinds") or {}).items():
            lines.append(
                f"- {tool} {kind}: {_fmt(s.get('min_ms'))} / {_fmt(s.get('median_ms'))} / {_fmt(s.get('p90_ms'))} / "
                f"{_fmt(s.get('max_ms'))}, {s.get('misses')} of {s.get('n')} missed"
            )
    for e in results.get("errors", []):
        lines.append(f"- error: {e}")
    return lines + [END]


DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def latest_section() -> list[str]:
    """The section from the last `make bench-remote`, for `make bench`'s full
    report: from its results, else as docs/benchmarks.md has it now (results
    are not committed: a fresh clone keeps the published section)."""
    try:
        return ["", *section(json.loads(LATEST.read_text()))]
    except (OSError, ValueError, KeyError):
        pass
    try:
        text = DOC.read_text()
    except OSError:
        return []
    if START not in text or END not in text:
        return []
    return ["", *text[text.index(START) : text.index(END) + len(END)].splitlines()]


def write_into(doc: Path, results: dict) -> None:
    text = doc.read_text() if doc.exists() else ""
    new = "\n".join(section(results))
    if START in text and END in text:
        text = text[: text.index(START)] + new + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    doc.write_text(text)


def summary(results: dict) -> list[str]:
    return [
        f"target {'met   ' if ok else 'MISSED' if ok is not None else 'n/a   '} {n}: {v}"
        for n, v, ok in targets(results)
    ]
