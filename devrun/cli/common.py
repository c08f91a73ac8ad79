"""What every command module shares: the global options, the option types
that mean the same in each command, and turning flag text into values."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from devrun.errors import UsageError

if TYPE_CHECKING:
    from devrun.config import loader


@dataclass
class Globals:
    file: str | None = None
    project: str | None = None
    no_color: bool = False
    quiet: bool = False
    # compose's global flags: -f given more than once, --env-file, --profile
    files: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    # a compose file's risky settings (socket, host paths, privileges) are errors
    strict: bool = False
    # --context NAME: the docker context to use (engine/select.py)
    context: str | None = None


FileOpt = Annotated[
    str | None,
    typer.Option("--file", "-f", metavar="FILE", help="Path to devrun.yaml (default: nearest one upwards)."),
]
ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        "--project-name",
        "-p",
        metavar="NAME",
        help="Project name (default: `name:` or the folder's name).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (newline-delimited JSON).")]
ServicesArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="SERVICE", help="Services (default: all).", show_default=False),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        "-t",
        metavar="SECONDS",
        help="Seconds to wait for a graceful stop before killing (default: stop_grace_period).",
        show_default=False,
    ),
]

IndexOpt = Annotated[int, typer.Option("--index", metavar="N", help="Container index (devrun runs one).")]
# exec and run take these alike, as compose does
EnvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        "-e",
        metavar="KEY=VALUE",
        help="Set an environment variable (repeatable).",
        show_default=False,
    ),
]
UserOpt = Annotated[
    str | None, typer.Option("--user", "-u", metavar="USER", help="Run as this user.", show_default=False)
]
WorkdirOpt = Annotated[
    str | None,
    typer.Option("--workdir", "-w", metavar="DIR", help="Working directory.", show_default=False),
]


def one_index(index: int) -> None:
    """compose's --index picks one of a service's replicas; devrun runs one."""
    if index != 1:
        raise UsageError(f"--index {index}: devrun runs one container per service; leave out --index")


def globals_(ctx: typer.Context, file: str | None = None, project: str | None = None) -> Globals:
    g: Globals = ctx.find_root().obj or Globals()
    return replace(g, file=file or g.file, project=project or g.project, files=[] if file else g.files)


def load(ctx: typer.Context, file: str | None, project: str | None):
    """(config, globals) for a command."""
    from devrun.config import loader
    from devrun.config.compose_files import Options

    g = globals_(ctx, file, project)
    options = Options(profiles=g.profiles, env_files=g.env_files, strict=g.strict)
    return loader.load(g.files or g.file, project_name=g.project, options=options), g


def printer_for(g: Globals, *, json_mode: bool = False, quiet: bool | None = None, progress: bool = True):
    """The command's Printer. `progress`: devrun's own lines are progress
    around a short command, so they go to stderr as compose's do, and stdout
    keeps only data a script captures (`id=$(devrun run -d app)`)."""
    import sys

    from devrun.output import Printer

    return Printer(
        json_mode=json_mode,
        color=None if not g.no_color else False,
        quiet=g.quiet if quiet is None else quiet,
        out=sys.stderr if progress and not json_mode else None,
    )


def point_in_time(value: str | None, flag: str) -> float | None:
    """`--since`/`--until` as compose reads them: a duration back from now
    ('10m', '1h30m'), an RFC 3339 time ('2024-05-01T10:00:00Z') or Unix seconds."""
    if value is None:
        return None
    from devrun.config.model import parse_duration

    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(
            f"{flag} {value}: give a duration back from now ('10m', '1h30m'), "
            "an RFC 3339 time ('2024-05-01T10:00:00Z') or Unix seconds"
        ) from None


def check_services(cfg: loader.LoadedConfig, names: list[str] | None) -> list[str]:
    """The services named on the command line, each one the project has."""
    unknown = [n for n in names or [] if n not in cfg.project.services]
    if unknown:
        raise UsageError(
            f"no service named {', '.join(unknown)}; services: {', '.join(sorted(cfg.project.services))}"
        )
    return list(names or [])
