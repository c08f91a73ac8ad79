"""The command line: parse, call one function, print, exit code. Nothing else.

Expected failures (DevrunError) are printed one line per problem to stderr and
become the error's exit code; only this module exits."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from devrun import __version__
from devrun.errors import EXIT_SIGINT, DevrunError

app = typer.Typer(
    name="devrun",
    help="Live-reload runner for containerized development environments.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    file: str | None = None
    project: str | None = None
    no_color: bool = False
    quiet: bool = False


FileOpt = Annotated[
    str | None, typer.Option("--file", "-f", help="Path to devrun.yaml (default: nearest one upwards).")
]
ProjectOpt = Annotated[
    str | None, typer.Option("--project", "-p", help="Project name (default: `name:` or the folder's name).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (newline-delimited JSON).")]


def globals_(ctx: typer.Context, file: str | None = None, project: str | None = None) -> Globals:
    g: Globals = ctx.find_root().obj or Globals()
    return Globals(file=file or g.file, project=project or g.project, no_color=g.no_color, quiet=g.quiet)


def _version(value: bool) -> None:
    if value:
        print(f"devrun {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    file: FileOpt = None,
    project: ProjectOpt = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (also: NO_COLOR=1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and service logs.")] = False,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
) -> None:
    if no_color:
        os.environ["NO_COLOR"] = "1"
    ctx.obj = Globals(file=file, project=project, no_color=no_color, quiet=quiet)


@app.command("config")
def config_cmd(
    ctx: typer.Context,
    file: FileOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print secret-looking values unmasked.")
    ] = False,
) -> None:
    """Validate devrun.yaml and print the resolved config."""
    from devrun import loader
    from devrun.render import resolved_dict

    g = globals_(ctx, file, project)
    cfg = loader.load(g.file, project_name=g.project)
    data = resolved_dict(cfg, show_secrets=show_secrets)
    if as_json:
        print(json.dumps(data, indent=None if not sys.stdout.isatty() else 2))
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of devrun.yaml (for editors)."""
    from devrun.render import json_schema

    print(json.dumps(json_schema(), indent=2))


def _register_more() -> None:
    # each group of commands lives in its own module; importing registers them
    import importlib

    for name in ("devrun.cli_run", "devrun.cli_onboard"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise


_register_more()


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


_GLOBAL_FLAGS = ("--no-color", "--quiet", "-q")
_TAKES_VALUE = ("--file", "-f", "--project", "-p")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """`devrun up --no-color` as well as `devrun --no-color up`: flag-only global
    options written after the command move in front of it. Not for `exec`,
    whose trailing words belong to the command run in the container."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in _TAKES_VALUE else 1
    if i >= len(argv) or argv[i] == "exec":
        return argv
    head, rest = argv[: i + 1], argv[i + 1 :]
    cut = rest.index("--") if "--" in rest else len(rest)
    moved = [a for a in rest[:cut] if a in _GLOBAL_FLAGS]
    kept = [a for a in rest[:cut] if a not in _GLOBAL_FLAGS] + rest[cut:]
    return moved + head + kept


def main(argv: list[str] | None = None) -> None:
    argv = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        rc = app(args=argv, standalone_mode=False)
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
