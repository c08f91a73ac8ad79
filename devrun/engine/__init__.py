"""The engine layer: the only code that talks to Docker (see protocol.py for
the seam the session layer uses)."""

from __future__ import annotations

import sys


def keep_paramiko_out_unless_ssh(argv: list[str]) -> None:
    """docker-py imports paramiko (100 to 300 ms here) whenever it is installed,
    yet needs it only for ssh:// engines. A devrun command talks to one engine:
    when that one is not reached over ssh, keep paramiko out of the process.
    Called by the command-line entry before anything imports docker."""
    if "docker" in sys.modules or "paramiko" in sys.modules:
        return
    from devrun.engine.select import select_engine

    context = None
    for i, arg in enumerate(argv):
        if arg == "--context" and i + 1 < len(argv):
            context = argv[i + 1]
        elif arg.startswith("--context="):
            context = arg.split("=", 1)[1]
    try:
        target = select_engine(context)
    except Exception:  # noqa: BLE001 - a bad context is reported by the connect that follows
        return
    if target.transport != "ssh":
        sys.modules["paramiko"] = None  # type: ignore[assignment]  # docker-py then skips its ssh adapter
