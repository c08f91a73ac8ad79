"""Onboarding commands: init, doctor. Thin: parse, call one function, print, exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from devrun.cli.common import FileOpt, JsonOpt, ProjectOpt, globals_
from devrun.errors import ConfigError, DevrunError


def init_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Project folder (default: here).", show_default=False)
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing devrun.yaml.")] = False,
) -> None:
    """Write a commented devrun.yaml from the folder's Dockerfile; with a compose
    file, say that `devrun up` runs it as it is and show the x-devrun extras."""
    from devrun.cli.init import SCHEMA_FILE, init_project
    from devrun.config import loader

    if not folder.is_dir():
        raise DevrunError(f"{folder} is not a folder")
    result = init_project(folder, force=force)
    if result.path is None:
        print("\n".join(result.advice))
        return
    shown = os.path.relpath(result.path)
    print(f"wrote {shown} (and {SCHEMA_FILE} beside it, for editors) from {result.source}")
    try:
        cfg = loader.load_file(result.path)
    except ConfigError as e:
        # written anyway: the user fixes the named lines rather than starting over
        for line in e.lines():
            print(line, file=sys.stderr)
        print(f"devrun: {shown} needs the fixes above before `devrun up`", file=sys.stderr)
        raise typer.Exit(1) from None
    print(f"checked: {len(cfg.project.services)} service(s) valid; next: `devrun up`")


def doctor_cmd(
    ctx: typer.Context,
    file: FileOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the engine, platform, inotify limits, ports, bind sources and images."""
    import json

    from devrun.cli import doctor

    g = globals_(ctx, file, project)
    checks = doctor.run(g.file, g.project, strict=g.strict)
    for check in checks:
        print(json.dumps(check.as_json()) if as_json else doctor.human_line(check), flush=True)
    if not as_json:
        print(doctor.summary(checks))
    # warnings do not fail the doctor; any failed check does
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)
