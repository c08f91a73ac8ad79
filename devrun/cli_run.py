"""Commands that run the project: up, down, ps, logs, exec, restart. Thin:
parse, call one function, print, exit code."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from datetime import datetime
from typing import Annotated

import typer

from devrun.cli import FileOpt, JsonOpt, ProjectOpt, app, globals_
from devrun.config import normalise_project_name
from devrun.errors import ConfigError, DevrunError, Problem, UsageError

ServicesArg = Annotated[list[str] | None, typer.Argument(help="Services (default: all).", show_default=False)]


def _load(ctx: typer.Context, file: str | None, project: str | None):
    from devrun import loader

    g = globals_(ctx, file, project)
    return loader.load(g.file, project_name=g.project), g


def _check_services(cfg, names: list[str] | None) -> list[str]:
    unknown = [n for n in names or [] if n not in cfg.project.services]
    if unknown:
        raise UsageError(
            f"no service named {', '.join(unknown)}; services: {', '.join(sorted(cfg.project.services))}"
        )
    return list(names or [])


@app.command("up")
def up_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Start and return.")] = False,
    build: Annotated[bool, typer.Option("--build", help="Rebuild images that have `build`.")] = False,
    no_watch: Annotated[bool, typer.Option("--no-watch", help="Do not watch files.")] = False,
    as_json: JsonOpt = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Build, create and start the services, then stream their logs."""
    from devrun import runner
    from devrun.output import Printer

    cfg, g = _load(ctx, file, project)
    printer = Printer(json_mode=as_json, color=None if not g.no_color else False, quiet=g.quiet)
    from devrun import live

    hook, before_start = live.extend()
    code = runner.up(
        cfg,
        printer,
        services=_check_services(cfg, services),
        detach=detach,
        build=build,
        watch=not no_watch,
        extend=hook,
        before_start=before_start,
    )
    raise typer.Exit(code)


@app.command("down")
def down_cmd(
    ctx: typer.Context,
    volumes: Annotated[
        bool, typer.Option("--volumes", "-v", help="Also remove named volumes (their data is lost).")
    ] = False,
    remove_orphans: Annotated[
        bool,
        typer.Option("--remove-orphans", help="Also remove containers of services no longer in the config."),
    ] = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Stop and remove the project's containers and network (volumes stay)."""
    from devrun import lifecycle, runner
    from devrun.engine import Engine
    from devrun.output import Printer

    try:
        cfg, g = _load(ctx, file, project)
    except ConfigError as e:
        # a broken devrun.yaml must not keep anyone from cleaning up: -p names the project
        g = globals_(ctx, file, project)
        if not g.project:
            raise ConfigError(
                [
                    *e.problems,
                    Problem(
                        e.problems[0].file,
                        None,
                        None,
                        "",
                        "fix the config, or run `devrun down -p PROJECT` to remove the project's containers by their labels",
                    ),
                ]
            ) from None
        name = normalise_project_name(g.project)
        printer = Printer(quiet=g.quiet)
        printer.warn(
            f"the config has errors ({e.problems[0]}); removing what carries the label of project {name}"
        )
        engine = Engine.connect()
        pid = runner.stop_running_up(name, timeout=20)
        if pid is not None:
            printer.info(f"stopped the running `devrun up` of {name} (pid {pid})")
        lifecycle.down_by_labels(engine, name, printer, volumes=volumes)
        return
    engine, printer = Engine.connect(), Printer(quiet=g.quiet)
    # a running `devrun up` would see its containers go and recreate them: ask it to stop first
    grace = max((s.stop_grace_period for s in cfg.project.services.values()), default=10.0)
    pid = runner.stop_running_up(cfg.name, timeout=grace + 10)
    if pid is not None:
        printer.info(f"stopped the running `devrun up` of {cfg.name} (pid {pid})")
    lifecycle.down(engine, cfg, printer, volumes=volumes, remove_orphans=remove_orphans)


def _created(info: dict) -> float:
    return time.time() - (_uptime(info.get("Created", "")) or 0.0) - 1.0


def _uptime(started: str) -> float | None:
    try:
        t = datetime.fromisoformat(
            started[:26].rstrip("Z") + "+00:00" if "." in started else started.replace("Z", "+00:00")
        )
    except ValueError:
        return None
    return max(0.0, time.time() - t.timestamp())


def ps_rows(engine, cfg) -> list[dict]:
    rows = []
    for o in engine.project_containers(cfg.name):
        info = engine.inspect(o.id)
        state = info["State"]
        ports = []
        for target, binds in sorted((info["NetworkSettings"].get("Ports") or {}).items()):
            for b in binds or []:
                ports.append(
                    {
                        "host_ip": b["HostIp"],
                        "published": int(b["HostPort"]),
                        "target": int(target.split("/")[0]),
                        "protocol": target.split("/")[1],
                    }
                )
        running = state.get("Running", False)
        rows.append(
            {
                "service": o.service,
                "container": o.name,
                "id": o.id[:12],
                "state": state.get("Status", o.state),
                "exit_code": None if running else state.get("ExitCode"),
                # the engine keeps the last health verdict of a stopped container: meaningless then
                "health": (state.get("Health") or {}).get("Status") if running else None,
                "ports": ports,
                "uptime_s": round(_uptime(state.get("StartedAt", "")) or 0, 1) if running else None,
                "restart_count": max(
                    info.get("RestartCount", 0), engine.start_count(o.id, _created(info)) - 1
                ),
                "restart_mode": o.restart_mode,
            }
        )
    return rows


@app.command("ps")
def ps_cmd(
    ctx: typer.Context, as_json: JsonOpt = False, file: FileOpt = None, project: ProjectOpt = None
) -> None:
    """Each service's container, state, health, ports, uptime and restarts."""
    from devrun.engine import Engine

    cfg, _ = _load(ctx, file, project)
    rows = ps_rows(Engine.connect(), cfg)
    for r in rows:
        for p in r["ports"]:
            if p["host_ip"] in ("0.0.0.0", "::", ""):
                print(
                    f"warning: {r['service']}: port {p['published']} is published on all interfaces ({p['host_ip']}), "
                    "so other machines can reach it",
                    file=sys.stderr,
                )
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        print(f"no containers for project {cfg.name}; run `devrun up`")
        return
    print(f"{'SERVICE':<14} {'STATE':<10} {'HEALTH':<10} {'UPTIME':>8} {'RESTARTS':>8}  PORTS")
    for r in rows:
        ports = ", ".join(
            f"{p['host_ip']}:{p['published']}->{p['target']}/{p['protocol']}" for p in r["ports"]
        )
        up = f"{int(r['uptime_s'])}s" if r["uptime_s"] is not None else "-"
        print(
            f"{r['service']:<14} {r['state']:<10} {r['health'] or '-':<10} {up:>8} {r['restart_count']:>8}  {ports}"
        )


def _containers_for(engine, cfg, services: list[str]) -> list:
    found = [o for o in engine.project_containers(cfg.name) if not services or o.service in services]
    if not found:
        raise DevrunError(
            f"no containers for {', '.join(services) or 'project ' + cfg.name}; run `devrun up` first"
        )
    return found


def tail_lines(value: str) -> str:
    """`--tail` as the engine takes it: 'all' or a count (the engine reads
    anything else as 'all', so a typo would silently dump whole logs)."""
    text = value.strip().lower()
    if text == "all" or text.isdigit():
        return text
    raise UsageError(f"--tail {value}: give a number of lines (0 or more) or 'all'")


def _next_running(engine, project: str, service: str, poll: float = 0.25) -> str | None:
    """The id of the service's container once it runs; None once it has none."""
    while True:
        mine = [o for o in engine.project_containers(project) if o.service == service]
        if not mine:
            return None
        running = [o for o in mine if o.state == "running"]
        if running:
            return running[0].id
        time.sleep(poll)


@app.command("logs")
def logs_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    tail: Annotated[
        str, typer.Option("--tail", "-n", help="Lines from the end of each log, or 'all'.")
    ] = "all",
    as_json: JsonOpt = False,
    # -f means --follow here, as in `docker compose logs -f`; `devrun -f FILE logs` still picks the file
    file: Annotated[str | None, typer.Option("--file", help="Path to devrun.yaml.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Show the services' logs."""
    from devrun.engine import Engine
    from devrun.output import Printer

    tail = tail_lines(tail)
    cfg, g = _load(ctx, file, project)
    engine = Engine.connect()
    printer = Printer(json_mode=as_json, color=None if not g.no_color else False)
    found = _containers_for(engine, cfg, _check_services(cfg, services))
    printer.set_services([o.service for o in found])

    def show(o) -> None:
        cid: str | None = o.id
        since: float | None = None
        while cid is not None:
            for stream, line in engine.logs(
                cid, follow=follow, tail=tail if since is None else "all", since=since
            ):
                printer.log(o.service, stream, line)
            if not follow:
                return
            # the engine ends a follow when the container stops: pick it up again
            # when it (or the container that replaced it) runs, as compose does
            since = time.time()
            cid = _next_running(engine, cfg.name, o.service)

    if not follow:
        for o in found:
            show(o)
        return
    threads = [threading.Thread(target=show, args=(o,), daemon=True) for o in found]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.2)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_cmd(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service to run the command in.")],
    command: Annotated[list[str], typer.Argument(help="Command and its arguments.")],
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Run a command in a service's container; exits with its exit code."""
    from devrun.engine import Engine

    cfg, _ = _load(ctx, file, project)
    engine = Engine.connect()
    target = _containers_for(engine, cfg, _check_services(cfg, [service]))[0]
    if target.state != "running":
        raise DevrunError(f"{service} is not running ({target.state}); start it with `devrun up {service}`")
    docker_cli = shutil.which("docker")
    if sys.stdin.isatty() and docker_cli:
        # an interactive TTY: the docker CLI does raw-mode terminal handling best
        os.execv(docker_cli, [docker_cli, "exec", "-it", target.id, *command])

    def on_line(stream: str, line: str) -> None:
        print(line, file=sys.stderr if stream == "stderr" else sys.stdout, flush=True)

    raise typer.Exit(engine.exec(target.id, command, on_line))


@app.command("restart")
def restart_cmd(
    ctx: typer.Context, services: ServicesArg = None, file: FileOpt = None, project: ProjectOpt = None
) -> None:
    """Restart services (in-place process restart when the container allows it)."""
    from devrun.engine import Engine
    from devrun.output import Printer

    cfg, g = _load(ctx, file, project)
    engine = Engine.connect()
    printer = Printer(quiet=g.quiet)
    for o in _containers_for(engine, cfg, _check_services(cfg, services)):
        t0 = time.monotonic()
        mode = "process" if o.restart_mode == "process" and o.state == "running" else "container"
        if mode == "process":
            engine.restart_process(o.id)
        else:
            engine.restart(
                o.id,
                cfg.project.services.get(o.service).stop_grace_period
                if o.service in cfg.project.services
                else 10,
            )
        printer.info(f"restarted {o.service} ({mode} mode, {int((time.monotonic() - t0) * 1000)} ms)")
