"""The command line: parse, call one function, print, exit code. Nothing else.

Expected failures (DevrunError) are printed one line per problem to stderr and
become the error's exit code; only this module exits."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from devrun import __version__
from devrun.cli import compose as cli_compose
from devrun.cli import onboard as cli_onboard
from devrun.cli import run as cli_run
from devrun.cli.common import FileOpt, Globals, ProjectOpt, load
from devrun.errors import EXIT_SIGINT, DevrunError, UsageError

app = typer.Typer(
    name="devrun",
    help="Live-reload runner for containerized development environments.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# help lists arguments by their metavar (SERVICE, COMMAND), never a Python type
# name like <list[str]> that typer would add
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None


def _version(value: bool) -> None:
    if value:
        print(f"devrun {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="devrun.yaml, or compose files (repeat -f to merge them, as compose does).",
        ),
    ] = None,
    project: ProjectOpt = None,
    env_files: Annotated[
        list[str] | None,
        typer.Option(
            "--env-file", metavar="FILE", help="Variables for interpolation instead of .env (repeatable)."
        ),
    ] = None,
    profiles: Annotated[
        list[str] | None,
        typer.Option(
            "--profile", metavar="NAME", help="Start services of this profile too (also COMPOSE_PROFILES)."
        ),
    ] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (also: NO_COLOR=1).")] = False,
    ansi: Annotated[
        str,
        typer.Option("--ansi", metavar="never|always|auto", help="Colour: compose's spelling of --no-color."),
    ] = "auto",
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            "--terse",
            help="Only errors, failures and service logs. Before the command; after it, "
            "`--terse` (a command's own -q keeps compose's meaning).",
        ),
    ] = False,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            metavar="NAME",
            help="Docker context to use (a `docker context`; default: DOCKER_HOST, DOCKER_CONTEXT, "
            "then `docker context use`).",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="A compose file's Docker socket, host paths outside the project and privileges "
            "are errors, not warnings (also x-devrun: {strict: true}).",
        ),
    ] = False,
) -> None:
    if ansi not in ("never", "always", "auto"):
        raise UsageError(f"--ansi {ansi}: give never, always or auto")
    no_color = no_color or ansi == "never"
    if no_color:
        os.environ["NO_COLOR"] = "1"
    files = files or []
    ctx.obj = Globals(
        file=files[0] if len(files) == 1 else None,
        project=project,
        no_color=no_color,
        quiet=quiet,
        files=files if len(files) > 1 else [],
        env_files=env_files or [],
        profiles=profiles or [],
        strict=strict,
        context=context,
    )
    if context is not None:  # the engine selection is imported only by the commands that connect
        from devrun.engine.select import set_context_flag

        set_context_flag(context)


def config_cmd(
    ctx: typer.Context,
    services: Annotated[bool, typer.Option("--services", help="Only the service names.")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", help="Only the volume names.")] = False,
    images: Annotated[bool, typer.Option("--images", help="Only each service's image.")] = False,
    profiles: Annotated[
        bool, typer.Option("--profiles", help="Only the profiles the services name.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only validate; print nothing.")] = False,
    fmt: Annotated[str, typer.Option("--format", metavar="yaml|json", help="Output format.")] = "yaml",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print secret-looking values unmasked.")
    ] = False,
    file: FileOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Validate devrun.yaml and print the resolved config."""
    from devrun import plan
    from devrun.config.render import resolved_dict

    if fmt not in ("yaml", "json"):
        raise UsageError(f"--format {fmt}: give yaml or json")
    cfg, _ = load(ctx, file, project)
    names = sorted(cfg.project.services)
    lists = {
        "services": names,
        "volumes": sorted(cfg.project.volumes),
        "images": [plan.image_tag(cfg.name, s, cfg.project.services[s]) for s in names],
        "profiles": sorted({p for svc in cfg.project.services.values() for p in svc.profiles}),
    }
    wanted = [
        k
        for k, on in (
            ("services", services),
            ("volumes", volumes),
            ("images", images),
            ("profiles", profiles),
        )
        if on
    ]
    if quiet:
        return
    from devrun.config.compose_files import summary

    for line in summary(cfg):
        print(f"devrun: {line}", file=sys.stderr)
    if wanted:
        for key in wanted:
            for item in lists[key]:
                print(item)
        return
    data = resolved_dict(cfg, show_secrets=show_secrets)
    if as_json or fmt == "json":
        print(json.dumps(data, indent=None if not sys.stdout.isatty() else 2))
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def schema_cmd() -> None:
    """Print the JSON Schema of devrun.yaml (for editors)."""
    from devrun.config.render import json_schema

    print(json.dumps(json_schema(), indent=2))


# the command list, in the order --help shows it: compose's everyday four first
_COMMANDS = [
    ("up", cli_run.up_cmd),
    ("down", cli_run.down_cmd),
    ("ps", cli_run.ps_cmd),
    ("logs", cli_run.logs_cmd),
    ("exec", cli_run.exec_cmd),
    ("run", cli_compose.run_cmd),
    ("restart", cli_run.restart_cmd),
    ("stop", cli_compose.stop_cmd),
    ("start", cli_compose.start_cmd),
    ("watch", cli_compose.watch_cmd),
    ("build", cli_compose.build_cmd),
    ("pull", cli_compose.pull_cmd),
    ("config", config_cmd),
    ("cp", cli_compose.cp_cmd),
    ("port", cli_compose.port_cmd),
    ("top", cli_compose.top_cmd),
    ("images", cli_compose.images_cmd),
    ("kill", cli_compose.kill_cmd),
    ("pause", cli_compose.pause_cmd),
    ("unpause", cli_compose.unpause_cmd),
    ("rm", cli_compose.rm_cmd),
    ("wait", cli_compose.wait_cmd),
    ("init", cli_onboard.init_cmd),
    ("doctor", cli_onboard.doctor_cmd),
    ("schema", schema_cmd),
    ("version", cli_compose.version_cmd),
]
# the words after these belong to the command run in the container
_PASSTHROUGH = {"exec": {"allow_interspersed_args": False}, "run": {"allow_interspersed_args": False}}

for _name, _fn in _COMMANDS:
    app.command(_name, context_settings=_PASSTHROUGH.get(_name))(_fn)
for _name in cli_compose.NOT_HERE:
    app.command(
        _name, hidden=True, context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
    )(cli_compose.not_here(_name))


def _json_errors(e: DevrunError) -> None:
    """In --json mode a failure is also an `error` event on stdout, so an
    editor task reading events sees why devrun stopped."""
    from devrun.errors import ConfigError
    from devrun.output import Printer

    printer = Printer(json_mode=True, err=open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    if isinstance(e, ConfigError):
        for p in e.problems:
            where = p.file + (f":{p.line}:{p.col or 1}" if p.line is not None else "")
            printer.event("error", message=f"{p.path}: {p.message}" if p.path else p.message, where=where)
    else:
        for line in str(e).splitlines():
            printer.event("error", message=line, where=None)


# after the command, only flags no compose command gives another meaning move
# in front of it: `devrun ps -q` is ps's -q (ids), `devrun up --terse` devrun's quiet
_GLOBAL_FLAGS = ("--no-color", "--terse", "--strict")
_TAKES_VALUE = (
    "--file",
    "-f",
    "--project",
    "--project-name",
    "-p",
    "--ansi",
    "--env-file",
    "--profile",
    "--context",
)


def hoist_global_flags(argv: list[str]) -> list[str]:
    """`devrun up --no-color` as well as `devrun --no-color up`: flag-only global
    options written after the command move in front of it. Not for `exec` and
    `run`, whose trailing words belong to the command run in the container."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in _TAKES_VALUE else 1
    if i >= len(argv) or argv[i] in ("exec", "run"):
        return argv
    head, rest = argv[: i + 1], argv[i + 1 :]
    cut = rest.index("--") if "--" in rest else len(rest)
    moved = [a for a in rest[:cut] if a in _GLOBAL_FLAGS]
    kept = [a for a in rest[:cut] if a not in _GLOBAL_FLAGS] + rest[cut:]
    return moved + head + kept


def main(argv: list[str] | None = None) -> None:
    argv = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        rc = app(args=argv, prog_name="devrun", standalone_mode=False)
        # standalone_mode=False returns typer.Exit's code instead of raising it
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except DevrunError as e:
        for line in e.lines():
            print(line, file=sys.stderr)
        if "--json" in argv:
            _json_errors(e)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(EXIT_SIGINT)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(EXIT_SIGINT)
    except Exception as e:  # click usage errors and friends
        # duck-typed: recent typer vendors click (typer._click), older ones import it
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        raise
    sys.exit(0)
