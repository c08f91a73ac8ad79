"""Commands that run the project: up, down, ps, logs, exec, restart, with the
flags compose gives them. Thin: parse, call, print, exit code; cli.py
registers them."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from typing import Annotated

import typer

from devrun.cli.common import (
    EnvOpt,
    FileOpt,
    IndexOpt,
    JsonOpt,
    ProjectOpt,
    ServicesArg,
    TimeoutOpt,
    UserOpt,
    WorkdirOpt,
    check_services,
    globals_,
    load,
    one_index,
    point_in_time,
    printer_for,
)
from devrun.errors import ConfigError, DevrunError, Problem, UsageError


def _flag(value: bool, name: str) -> list[str]:
    return [name] if value else []


def _exclusive(*flags: tuple[bool, str]) -> None:
    given = [name for on, name in flags if on]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} cannot be used together; drop one")


def abort_on_exit(inner, exit_code_from: str | None):
    """An `extend` hook for runner.up: the first container that exits stops the
    project (compose's --abort-on-container-exit). Returns (hook, result):
    result["code"] is the exit code up should end with once it stopped."""
    from devrun.engine.protocol import EngineEvent
    from devrun.session.messages import StopRequest

    result: dict[str, int] = {}

    def hook(session) -> None:
        if inner is not None:
            inner(session)
        original = session.handlers[EngineEvent]

        def on_event(ev) -> None:
            ours = session.containers.get(ev.service) == ev.container_id
            original(ev)
            if ev.action != "die" or not ours or session.stopping or "code" in result:
                return
            result["code"] = ev.exit_code or 0
            session.printer.error(
                f"{ev.service} exited with code {ev.exit_code}; stopping the project (--abort-on-container-exit)"
            )
            session.submit(StopRequest(signal.SIGTERM))

        session.on(EngineEvent, on_event)

    return hook, result


def show_urls(inner, engine, cfg, services: list[str], printer):
    """An `extend` hook for runner.up: before `ready`, one line per published
    port with its URL (`web: http://127.0.0.1:8000 (-> 8000/tcp)`)."""
    from devrun.session.project_ops import port_urls

    def hook(session) -> None:
        if inner is not None:
            inner(session)
        for line in port_urls(engine, cfg, services):
            printer.info(line)

    return hook


def up_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Start and return.")] = False,
    build: Annotated[bool, typer.Option("--build", help="Rebuild images that have `build`.")] = False,
    no_build: Annotated[
        bool, typer.Option("--no-build", help="Never build; fail if an image to build is missing.")
    ] = False,
    no_deps: Annotated[
        bool, typer.Option("--no-deps", help="Do not start the services' dependencies.")
    ] = False,
    force_recreate: Annotated[
        bool, typer.Option("--force-recreate", help="Recreate containers even when nothing changed.")
    ] = False,
    no_recreate: Annotated[
        bool,
        typer.Option("--no-recreate", help="Keep existing containers even when the config changed."),
    ] = False,
    remove_orphans: Annotated[
        bool, typer.Option("--remove-orphans", help="Remove containers of services no longer in the config.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Return once every service runs and is healthy (implies -d).")
    ] = False,
    wait_timeout: Annotated[
        float | None,
        typer.Option(
            "--wait-timeout", metavar="SECONDS", help="Give up --wait after this long.", show_default=False
        ),
    ] = None,
    abort: Annotated[
        bool,
        typer.Option("--abort-on-container-exit", help="Stop everything when any container exits."),
    ] = False,
    exit_code_from: Annotated[
        str | None,
        typer.Option(
            "--exit-code-from",
            metavar="SERVICE",
            help="Exit with this service's exit code (implies --abort-on-container-exit).",
            show_default=False,
        ),
    ] = None,
    timeout: TimeoutOpt = None,
    no_watch: Annotated[bool, typer.Option("--no-watch", help="Do not watch files.")] = False,
    no_tui: Annotated[
        bool, typer.Option("--no-tui", help="No status footer and keys on a terminal, only the logs.")
    ] = False,
    as_json: JsonOpt = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Build, create and start the services, then stream their logs and apply edits."""
    from devrun.engine.docker import Engine
    from devrun.plan import start_order
    from devrun.session import live, project_ops, runner

    abort = abort or exit_code_from is not None
    detach = detach or wait
    _exclusive((build, "--build"), (no_build, "--no-build"))
    _exclusive((force_recreate, "--force-recreate"), (no_recreate, "--no-recreate"))
    _exclusive((detach, "--detach/--wait"), (abort, "--abort-on-container-exit/--exit-code-from"))
    cfg, g = load(ctx, file, project)
    chosen = check_services(cfg, services)
    if exit_code_from:
        check_services(cfg, [exit_code_from])
    if no_deps:
        cfg = project_ops.without_deps(cfg)
    printer = printer_for(g, json_mode=as_json, progress=detach)
    engine = Engine.connect()
    order = start_order(cfg.project, chosen or None)
    if no_build:
        project_ops.check_built(engine, cfg, order)
    if remove_orphans:
        project_ops.remove_orphans(engine, cfg, printer, timeout)
    if force_recreate:
        project_ops.force_recreate(engine, cfg, order, printer, timeout)
    if no_recreate and detach:
        kept = project_ops.start_existing(engine, cfg, order, printer)
        chosen = [s for s in order if s not in kept]
        cfg = project_ops.without_deps(cfg)
        if not chosen:
            printer.event("ready", services=order)
            raise typer.Exit(0)
    hook, before_start = live.extend() if not no_watch else (None, None)
    result: dict[str, int] = {}
    if abort:
        hook, result = abort_on_exit(hook, exit_code_from)
    servers: list = []
    if not detach:
        from devrun.session.footer import wanted

        hook = serve_control(hook, servers, tui=wanted(as_json, no_tui))
    hook = show_urls(hook, engine, cfg, order, printer)
    try:
        code = runner.up(
            cfg,
            printer,
            services=chosen,
            detach=detach,
            build=build,
            # the hook also carries --abort-on-container-exit; watching itself is off without live's hook
            watch=hook is not None,
            extend=hook,
            before_start=before_start,
            engine=engine,
            no_recreate=no_recreate,
            stop_timeout=timeout,
        )
    finally:
        for server in servers:
            server.stop()
    if code == 0 and wait:
        project_ops.wait_ready(engine, cfg, order, wait_timeout)
        printer.info(f"healthy: {', '.join(order)}")
    if code == 0 and detach:
        for line in project_ops.port_urls(engine, cfg, order):
            printer.info(line)
    if "code" in result:
        code = project_ops.exit_code_of(engine, cfg, exit_code_from) if exit_code_from else result["code"]
    raise typer.Exit(code)


def serve_control(inner, servers: list, tui: bool = False):
    """An `extend` hook for runner.up: serve the running up's state and controls
    (unix socket and 127.0.0.1; docs/events.md) and print the dashboard link;
    `tui`: the status footer and its keys (session/footer.py)."""

    def hook(session) -> None:
        if inner is not None:
            inner(session)
        from devrun.session.steer import serve

        servers.append(serve(session))
        if tui:
            from devrun.session.footer import Footer

            footer = Footer(session, servers[-1].steer)
            footer.start()
            servers.insert(0, footer)  # stopped first: the terminal back as it was

    return hook


def down_cmd(
    ctx: typer.Context,
    volumes: Annotated[
        bool, typer.Option("--volumes", "-v", help="Also remove named volumes (their data is lost).")
    ] = False,
    rmi: Annotated[
        str | None,
        typer.Option(
            "--rmi",
            metavar="local|all",
            help="Also remove images: `local` those devrun built, `all` every service's image.",
            show_default=False,
        ),
    ] = None,
    remove_orphans: Annotated[
        bool,
        typer.Option("--remove-orphans", help="Also remove containers of services no longer in the config."),
    ] = False,
    timeout: TimeoutOpt = None,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Stop and remove the project's containers and network (volumes stay unless -v)."""
    from devrun.engine.docker import Engine
    from devrun.session import teardown

    if rmi not in (None, "local", "all"):
        raise UsageError(f"--rmi {rmi}: give `local` (images devrun built) or `all` (every service's image)")
    try:
        cfg, g = load(ctx, file, project)
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
        from devrun.config.model import normalise_project_name

        name = normalise_project_name(g.project)
        printer = printer_for(g)
        printer.warn(
            f"the config has errors ({e.problems[0]}); removing what carries the label of project {name}"
        )
        teardown.down_by_name(Engine.connect(), name, printer, volumes=volumes)
        return
    teardown.down_project(
        Engine.connect(),
        cfg,
        printer_for(g),
        volumes=volumes,
        remove_orphans=remove_orphans,
        timeout=timeout,
        rmi=rmi,  # type: ignore[arg-type]  # checked above
    )


def _status_filters(status: list[str] | None, filters: list[str] | None) -> set[str]:
    wanted = set(status or [])
    for f in filters or []:
        key, sep, value = f.partition("=")
        if key != "status" or not sep:
            raise UsageError(
                f"--filter {f}: only status=STATE is supported (as in compose), e.g. status=running"
            )
        wanted.add(value)
    known = {"created", "running", "paused", "restarting", "removing", "exited", "dead"}
    bad = sorted(wanted - known)
    if bad:
        raise UsageError(f"--status {', '.join(bad)}: give one of {', '.join(sorted(known))}")
    return wanted


def ps_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="Also stopped and one-off (`run`) containers.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only container ids.")] = False,
    show_services: Annotated[bool, typer.Option("--services", help="Only service names.")] = False,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATE",
            help="Only containers in this state (repeatable).",
            show_default=False,
        ),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="status=STATE",
            help="Only containers matching (status= only).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="table|json", help="json: one compose-shaped object per line.")
    ] = "table",
    as_json: Annotated[
        bool, typer.Option("--json", help="Every container as one JSON array of devrun's rows.")
    ] = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Each service's container: state (and exit code), health, ports, uptime, restarts.
    Like compose, only running containers unless -a."""
    from devrun.engine.docker import Engine
    from devrun.session import psrows

    if fmt not in ("table", "json"):
        raise UsageError(f"--format {fmt}: give `table` or `json`")
    wanted = _status_filters(status, filters)
    cfg, _ = load(ctx, file, project)
    check_services(cfg, services)
    rows = [
        r
        for r in psrows.ps_rows(Engine.connect(), cfg.name, oneoffs=all_)
        if not services or r["service"] in services
    ]
    psrows.render(
        rows,
        cfg.name,
        sys.stdout,
        sys.stderr,
        all_=all_,
        wanted=wanted,
        quiet=quiet,
        show_services=show_services,
        fmt=fmt,
        as_json=as_json,
    )


def tail_lines(value: str) -> str:
    """`--tail` as the engine takes it: 'all' or a count (the engine reads
    anything else as 'all', so a typo would silently dump whole logs)."""
    text = value.strip().lower()
    if text == "all" or text.isdigit():
        return text
    raise UsageError(f"--tail {value}: give a number of lines (0 or more) or 'all'")


def logs_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    tail: Annotated[
        str, typer.Option("--tail", "-n", metavar="N|all", help="Lines from the end of each log, or 'all'.")
    ] = "all",
    timestamps: Annotated[
        bool, typer.Option("--timestamps", "-t", help="Prefix each line with its time.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="TIME",
            help="Only lines since a time ('10m', RFC 3339, Unix seconds).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="TIME",
            help="Only lines before a time ('10m', RFC 3339, Unix seconds).",
            show_default=False,
        ),
    ] = None,
    no_prefix: Annotated[bool, typer.Option("--no-log-prefix", help="No `service |` prefix.")] = False,
    as_json: JsonOpt = False,
    # -f means --follow here, as in `docker compose logs -f`; `devrun -f FILE logs` still picks the file
    file: Annotated[str | None, typer.Option("--file", metavar="FILE", help="Path to devrun.yaml.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Show the services' logs."""
    from devrun.engine.docker import Engine
    from devrun.output import terminal_safe
    from devrun.session.logstream import LogStreams
    from devrun.session.project_ops import service_containers

    tail = tail_lines(tail)
    start, end = point_in_time(since, "--since"), point_in_time(until, "--until")
    cfg, g = load(ctx, file, project)
    engine = Engine.connect()
    printer = printer_for(g, json_mode=as_json, progress=False)
    found = service_containers(engine, cfg, check_services(cfg, services))
    printer.set_services([o.service for o in found])
    lock = threading.Lock()

    def emit(service: str, stream: str, line: str) -> None:
        if no_prefix and not as_json:
            with lock:
                print(terminal_safe(line, keep_colour=printer.color), file=sys.stdout, flush=True)
        else:
            printer.log(service, stream, line)

    streams = LogStreams(engine, cfg.name, emit, tail=tail, since=start, until=end, timestamps=timestamps)
    try:
        streams.show([(o.service, o.id) for o in found], follow=follow)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _raw_out(stream: int, data: bytes) -> None:
    target = sys.stderr.buffer if stream == 2 else sys.stdout.buffer
    target.write(data)
    target.flush()


def piped_stdin():
    """The stdin to forward to a container: only a pipe or file, never a terminal."""
    try:
        return None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer
    except (ValueError, AttributeError):
        return None


def exec_cmd(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service to run the command in.")],
    command: Annotated[list[str], typer.Argument(metavar="COMMAND", help="Command and its arguments.")],
    no_tty: Annotated[
        bool, typer.Option("--no-TTY", "-T", help="No pseudo-terminal (stdin still piped).")
    ] = False,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background.")] = False,
    user: UserOpt = None,
    workdir: WorkdirOpt = None,
    env: EnvOpt = None,
    privileged: Annotated[bool, typer.Option("--privileged", help="Extended privileges.")] = False,
    index: IndexOpt = 1,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Run a command in a service's running container; exits with its exit code."""
    from devrun.engine.docker import Engine
    from devrun.session.project_ops import env_pairs, service_containers

    one_index(index)
    variables = env_pairs(env or [])
    cfg, _ = load(ctx, file, project)
    engine = Engine.connect()
    target = service_containers(engine, cfg, check_services(cfg, [service]))[0]
    if target.state != "running":
        raise DevrunError(f"{service} is not running ({target.state}); start it with `devrun up {service}`")
    docker_cli = shutil.which("docker")
    if sys.stdin.isatty() and sys.stdout.isatty() and docker_cli and not (no_tty or detach):
        # an interactive TTY: the docker CLI does raw-mode terminal handling best
        flags = [*_flag(privileged, "--privileged")]
        flags += ["-u", user] if user else []
        flags += ["-w", workdir] if workdir else []
        for k, v in variables.items():
            flags += ["-e", f"{k}={v}"]
        os.execv(docker_cli, [docker_cli, "exec", "-it", *flags, target.id, *command])
    code = engine.exec_io(
        target.id,
        command,
        _raw_out,
        stdin=None if detach else piped_stdin(),
        user=user,
        workdir=workdir,
        env=variables or None,
        privileged=privileged,
        detach=detach,
    )
    raise typer.Exit(code)


def restart_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    timeout: TimeoutOpt = None,
    no_deps: Annotated[
        bool, typer.Option("--no-deps", help="Accepted for compose: devrun restarts only the named services.")
    ] = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Restart services (in-place process restart when the container allows it).
    A restarted process that exits at once is a failed restart (exit 1)."""
    from devrun.engine.docker import Engine
    from devrun.session.project_ops import restart_services

    cfg, g = load(ctx, file, project)
    restart_services(Engine.connect(), cfg, check_services(cfg, services), printer_for(g), timeout)
