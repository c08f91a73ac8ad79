"""The rest of compose's commands, with compose's meaning: run, stop, start,
kill, pause, unpause, rm, build, pull, cp, port, top, images, watch, wait,
version; and one line naming the devrun way for those devrun does not do.
Thin: parse, call, print, exit code; cli.py registers them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Annotated

import typer

from devrun import __version__
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
    load,
    one_index,
    printer_for,
)
from devrun.cli.run import _raw_out, piped_stdin
from devrun.errors import EXIT_USAGE, DevrunError, UsageError

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def _engine():
    from devrun.engine.docker import Engine

    return Engine.connect()


def run_cmd(
    ctx: typer.Context,
    service: Annotated[
        str, typer.Argument(metavar="SERVICE", help="Service whose image and settings to use.")
    ],
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="COMMAND", help="Command (default: the service's).", show_default=False),
    ] = None,
    rm: Annotated[bool, typer.Option("--rm", help="Remove the container when it exits.")] = False,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background; print its name.")
    ] = False,
    env: EnvOpt = None,
    user: UserOpt = None,
    workdir: WorkdirOpt = None,
    no_tty: Annotated[bool, typer.Option("--no-TTY", "-T", help="No pseudo-terminal.")] = False,
    no_deps: Annotated[
        bool, typer.Option("--no-deps", help="Do not start the service's dependencies.")
    ] = False,
    entrypoint: Annotated[
        str | None,
        typer.Option(
            "--entrypoint",
            metavar="CMD",
            help="Override the entrypoint (split like a shell).",
            show_default=False,
        ),
    ] = None,
    service_ports: Annotated[
        bool,
        typer.Option("--service-ports", help="Publish the service's ports (off by default, as in compose)."),
    ] = False,
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="Container name.", show_default=False)
    ] = None,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Run a one-off command in a new container of a service; exits with its exit code."""
    import shlex

    from devrun.session.project_ops import RunOptions, env_pairs, run_oneoff

    if rm and detach:
        raise UsageError("--rm and -d cannot be used together; drop one")
    cfg, g = load(ctx, file, project)
    check_services(cfg, [service])
    stdin = piped_stdin()
    opts = RunOptions(
        service=service,
        command=list(command or []),
        remove=rm,
        detach=detach,
        env=env_pairs(env or []),
        user=user,
        workdir=workdir,
        entrypoint=shlex.split(entrypoint) if entrypoint is not None else None,
        # a pseudo-terminal only when devrun itself talks to one (compose's default)
        tty=not no_tty and sys.stdin.isatty() and sys.stdout.isatty() and not detach,
        no_deps=no_deps,
        service_ports=service_ports,
        name=name,
    )
    # dependency and image progress goes to stderr: stdout is the command's own
    printer = printer_for(g)
    docker_cli = shutil.which("docker")
    terminal = None
    if opts.tty and docker_cli:
        # an interactive terminal: the docker CLI does raw-mode terminal handling best

        def terminal(container_id: str) -> int:
            return subprocess.call([docker_cli, "start", "--attach", "--interactive", container_id])

    container, code = run_oneoff(_engine(), cfg, printer, opts, _raw_out, stdin=stdin, terminal=terminal)
    if detach:
        print(container)
    raise typer.Exit(code)


def stop_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    timeout: TimeoutOpt = None,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Stop services' containers (they stay; `devrun start` starts them again)."""
    from devrun.session.project_ops import stop_services

    cfg, g = load(ctx, file, project)
    printer = printer_for(g)
    for o in stop_services(_engine(), cfg, check_services(cfg, services), timeout, printer):
        printer.info(f"stopped {o.service}")


def start_cmd(
    ctx: typer.Context, services: ServicesArg = None, file: FileOpt = None, project: ProjectOpt = None
) -> None:
    """Start services' existing containers (`devrun up` creates them), each after
    the services it depends on are healthy or completed, as compose does."""
    from devrun.session.project_ops import start_services

    cfg, g = load(ctx, file, project)
    start_services(_engine(), cfg, check_services(cfg, services), printer_for(g))


def kill_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    sig: Annotated[str, typer.Option("--signal", "-s", metavar="SIGNAL", help="Signal to send.")] = "SIGKILL",
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Send a signal (default SIGKILL) to services' running containers."""
    from devrun.config.model import normalise_signal
    from devrun.session.project_ops import service_containers

    try:
        name = normalise_signal(sig)
    except ValueError as e:
        raise UsageError(f"--signal {sig}: {e}") from None
    cfg, g = load(ctx, file, project)
    engine, printer = _engine(), printer_for(g)
    for o in service_containers(engine, cfg, check_services(cfg, services), states=("running", "restarting")):
        engine.kill(o.id, name)
        printer.info(f"sent {name} to {o.service}")


def _pause(ctx: typer.Context, services: list[str] | None, file, project, pause: bool) -> None:
    from devrun.session.project_ops import service_containers

    cfg, g = load(ctx, file, project)
    engine, printer = _engine(), printer_for(g)
    states = ("running",) if pause else ("paused",)
    for o in service_containers(engine, cfg, check_services(cfg, services), states=states):
        engine.pause(o.id, pause)
        printer.info(f"{'paused' if pause else 'unpaused'} {o.service}")


def pause_cmd(
    ctx: typer.Context, services: ServicesArg = None, file: FileOpt = None, project: ProjectOpt = None
) -> None:
    """Pause services' running containers."""
    _pause(ctx, services, file, project, True)


def unpause_cmd(
    ctx: typer.Context, services: ServicesArg = None, file: FileOpt = None, project: ProjectOpt = None
) -> None:
    """Unpause services' paused containers."""
    _pause(ctx, services, file, project, False)


def rm_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask.")] = False,
    stop: Annotated[bool, typer.Option("--stop", "-s", help="Stop running containers first.")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Also their anonymous volumes.")] = False,
    file: Annotated[str | None, typer.Option("--file", metavar="FILE", help="Path to devrun.yaml.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Remove services' stopped containers (and one-off `run` containers)."""
    from devrun.session.project_ops import removable, stop_services

    cfg, g = load(ctx, file, project)
    engine, printer = _engine(), printer_for(g)
    chosen = check_services(cfg, services)
    if stop:
        stop_services(engine, cfg, chosen, None, printer)
    targets = removable(engine, cfg, chosen)
    if not targets:
        printer.info("no stopped containers")
        return
    if (
        not force
        and sys.stdin.isatty()
        and not typer.confirm(f"remove {', '.join(o.name for o in targets)}?")
    ):
        raise typer.Exit(1)
    for o in targets:
        engine.remove(o.id, volumes=volumes)
        printer.info(f"removed {o.name}")


def build_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    quiet: QuietOpt = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Build (again) the images of services that have `build`."""
    from devrun.session import lifecycle

    cfg, g = load(ctx, file, project)
    names = [
        s
        for s in check_services(cfg, services) or sorted(cfg.project.services)
        if cfg.project.services[s].build
    ]
    if not names:
        raise DevrunError("no service to build: none of them has `build:`")
    # quiet: no build transcript; a failing build still names its step and the tail of its output
    printer = printer_for(g, quiet=g.quiet or quiet)
    lifecycle.resolve_images(_engine(), cfg, names, printer, force_build=True)
    for s in names:
        printer.info(f"built {lifecycle.image_tag(cfg, s)}")


def pull_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    quiet: QuietOpt = False,
    ignore_failures: Annotated[
        bool, typer.Option("--ignore-pull-failures", help="Keep going past images that cannot be pulled.")
    ] = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Pull the images of services that name an `image` (and have no `build`)."""
    from devrun.errors import EngineError

    cfg, g = load(ctx, file, project)
    engine, printer = _engine(), printer_for(g, quiet=g.quiet or quiet)
    refs = sorted(
        {
            cfg.project.services[s].image
            for s in check_services(cfg, services) or sorted(cfg.project.services)
            if cfg.project.services[s].image and not cfg.project.services[s].build
        }
    )
    failed = []
    for ref in refs:
        printer.info(f"pulling {ref}")
        try:
            engine.pull(ref, lambda line: None)
        except EngineError as e:
            if not ignore_failures:
                raise
            printer.error(str(e))
            failed.append(ref)
    if failed:
        printer.warn(f"not pulled: {', '.join(failed)} (--ignore-pull-failures)")


def cp_cmd(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(metavar="SRC", help="SERVICE:PATH or a local path.")],
    dest: Annotated[str, typer.Argument(metavar="DEST", help="SERVICE:PATH or a local path.")],
    archive: Annotated[
        bool, typer.Option("--archive", "-a", help="Keep the files' owner (uid/gid).")
    ] = False,
    follow_link: Annotated[bool, typer.Option("--follow-link", "-L", help="Accepted for compose.")] = False,
    index: IndexOpt = 1,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Copy files between a service's container and this machine (either direction)."""
    from devrun.session.project_ops import copy_into, copy_out, service_containers, split_copy_arg

    one_index(index)
    (src_service, src_path), (dest_service, dest_path) = split_copy_arg(src), split_copy_arg(dest)
    if (src_service is None) == (dest_service is None):
        raise UsageError(
            "cp: name a container on exactly one side: `devrun cp SERVICE:PATH DEST` or `devrun cp SRC SERVICE:PATH`"
        )
    cfg, _ = load(ctx, file, project)
    service = src_service or dest_service
    engine = _engine()
    target = service_containers(engine, cfg, check_services(cfg, [service]))[0]
    if src_service:
        copy_out(engine, target.id, src_path, dest_path)
    else:
        copy_into(engine, target.id, src_path, dest_path, keep_owner=archive)


def port_cmd(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service.")],
    private_port: Annotated[int, typer.Argument(metavar="PRIVATE_PORT", help="Port inside the container.")],
    protocol: Annotated[str, typer.Option("--protocol", metavar="tcp|udp", help="Protocol.")] = "tcp",
    index: IndexOpt = 1,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Print the host address a container port is published on (HOST_IP:PORT)."""
    from devrun.session.project_ops import published, service_containers

    one_index(index)
    cfg, _ = load(ctx, file, project)
    engine = _engine()
    target = service_containers(engine, cfg, check_services(cfg, [service]))[0]
    print(published(engine, target.id, private_port, protocol))


def top_cmd(
    ctx: typer.Context, services: ServicesArg = None, file: FileOpt = None, project: ProjectOpt = None
) -> None:
    """The processes running in services' containers."""
    from devrun.session.project_ops import service_containers

    cfg, _ = load(ctx, file, project)
    engine = _engine()
    for o in service_containers(engine, cfg, check_services(cfg, services), states=("running",)):
        titles, processes = engine.top(o.id)
        rows = [titles, *processes]
        widths = [max(len(str(r[i])) for r in rows if i < len(r)) for i in range(len(rows[0]))]
        print(o.name)
        for r in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
        print()


def images_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only image ids.")] = False,
    fmt: Annotated[str, typer.Option("--format", metavar="table|json", help="Output format.")] = "table",
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """The images the services' containers use."""
    from devrun.session.project_ops import image_rows

    if fmt not in ("table", "json"):
        raise UsageError(f"--format {fmt}: give `table` or `json`")
    cfg, _ = load(ctx, file, project)
    rows = image_rows(_engine(), cfg, check_services(cfg, services))
    if quiet:
        for image_id in sorted({r["id"] for r in rows}):
            print(image_id)
    elif fmt == "json":
        print(json.dumps(rows))
    else:
        print(f"{'CONTAINER':<28} {'REPOSITORY':<24} {'TAG':<12} {'IMAGE ID':<12} SIZE")
        for r in rows:
            size = f"{r['size'] / 1e6:.1f}MB"
            print(f"{r['container']:<28} {r['repository']:<24} {r['tag']:<12} {r['id'][:12]:<12} {size}")


def watch_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    as_json: JsonOpt = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Start the services and apply edits as they are saved, without showing their logs (`up` shows both)."""
    from devrun.session import live, runner

    cfg, g = load(ctx, file, project)
    printer = printer_for(g, json_mode=as_json, progress=False)
    printer.log = lambda *_a, **_k: None  # compose's watch: devrun's own lines, not the services' output
    hook, before_start = live.extend()
    code = runner.up(
        cfg,
        printer,
        services=check_services(cfg, services),
        watch=True,
        extend=hook,
        before_start=before_start,
    )
    raise typer.Exit(code)


def wait_cmd(
    ctx: typer.Context,
    services: ServicesArg = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="SECONDS", help="With a running up: give up after this long (exit 1)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With a running up: the verdict as JSON.")] = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """With a running `devrun up`: block until every change saved before the call is
    applied and its service ready (exit 0, or 1 with the failing action's error).
    Without one, as compose: until the containers stop, exiting with the first one's code."""
    from devrun.cli.wait import wait_live
    from devrun.session.endpoint import find_running
    from devrun.session.project_ops import service_containers

    cfg, _ = load(ctx, file, project)
    info = find_running(cfg.name)
    if info is not None:
        raise typer.Exit(wait_live(info, check_services(cfg, services), timeout, as_json))
    engine = _engine()
    found = service_containers(engine, cfg, check_services(cfg, services))
    codes = [engine.wait(o.id) for o in found]
    raise typer.Exit(codes[0] if codes else 0)


def version_cmd(
    short: Annotated[bool, typer.Option("--short", help="Only the number.")] = False,
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="pretty|json", help="Output format.")
    ] = "pretty",
) -> None:
    """Print devrun's version."""
    if fmt == "json":
        print(json.dumps({"version": __version__}))
    else:
        print(__version__ if short else f"devrun version {__version__}")


# compose commands devrun does not implement: the devrun (or docker) way to do it
NOT_HERE: dict[str, str] = {
    "attach": "`devrun logs -f SERVICE` follows its output; `devrun exec SERVICE sh` gives a shell",
    "create": "`devrun up -d` then `devrun stop` leaves the containers created and stopped",
    "events": "`devrun up --json` streams devrun's events (docs/events.md)",
    "ls": "`docker ps -a --filter label=dev.devrun.project` lists devrun's containers by project",
    "scale": "devrun runs one container per service; `devrun run -d SERVICE` starts another one-off",
    "push": "push with `docker push IMAGE` (`devrun images` names them)",
    "commit": "use `docker commit $(devrun ps -q SERVICE) IMAGE`",
    "export": "use `docker export $(devrun ps -q SERVICE) > FILE.tar`",
    "stats": "use `docker stats $(devrun ps -q)`",
    "volumes": "use `docker volume ls --filter label=dev.devrun.project=PROJECT`",
    "publish": "devrun is for development; publish with compose or your deployment tool",
    "bridge": "devrun does not convert projects to other formats",
    "alpha": "devrun has no experimental commands; `devrun --help` lists what it does",
    "viz": "`devrun config` prints the resolved config, depends_on included",
}


def not_here(name: str):
    def command(
        args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    ) -> None:
        print(f"devrun: `{name}` is not a devrun command: {NOT_HERE[name]}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)

    command.__doc__ = f"Not in devrun: {NOT_HERE[name]}."
    return command
