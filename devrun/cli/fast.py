"""Commands a running `up` answers at once: `devrun wait`, `ps`, `logs` and
`restart` are served here (the last three in cli/nearby.py), before typer,
pydantic or docker are imported. Anything this does not fully understand
returns None, and the whole CLI runs as usual (which asks the running `up`
too, or the engine when none runs). DEVRUN_NO_FAST=1 skips this: always the
engine path (the tests compare both)."""

from __future__ import annotations

import os

from devrun.session import endpoint

FAST = ("wait", "ps", "logs", "restart")
_GLOBAL_VALUE = {
    "-p": "project",
    "--project": "project",
    "--project-name": "project",
    "-f": "file",
    "--file": "file",
}


def run(argv: list[str]) -> int | None:
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if argv[i] == "--no-color":
            opts["no_color"] = "1"
            i += 1
            continue
        if name not in _GLOBAL_VALUE:
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        if name in ("-f", "--file") and "file" in opts:
            return None  # several files: the full CLI resolves them
        opts[_GLOBAL_VALUE[name]] = value
        i += 1
    if i >= len(argv) or argv[i] not in FAST:
        return None
    if argv[i] != "wait":
        if any(os.environ.get(k) for k in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "DEVRUN_NO_FAST")):
            return None  # the full CLI resolves which project that is
        from devrun.cli import nearby

        return nearby.run(argv[i], argv[i + 1 :], opts)
    parsed = _wait_args(argv[i + 1 :])
    if parsed is None:
        return None
    info = endpoint.find_running(opts.get("project"), opts.get("file"))
    if info is None:
        return None
    from devrun.cli.wait import wait_live

    services, timeout, as_json = parsed
    return wait_live(info, services, timeout, as_json)


def _wait_args(args: list[str]) -> tuple[list[str], float | None, bool] | None:
    services: list[str] = []
    timeout: float | None = None
    as_json = False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--json":
            as_json = True
        elif a == "--timeout" or a.startswith("--timeout="):
            text = a.partition("=")[2] if "=" in a else (args[i + 1] if i + 1 < len(args) else "")
            i += 0 if "=" in a else 1
            try:
                timeout = float(text)
            except ValueError:
                return None  # the full CLI says what is wrong
        elif a.startswith("-"):
            return None
        else:
            services.append(a)
        i += 1
    return services, timeout, as_json
