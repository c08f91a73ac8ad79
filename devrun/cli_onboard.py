"""Onboarding commands: init. Thin: parse, call one function, print, exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from devrun.cli import app
from devrun.errors import ConfigError, DevrunError


@app.command("init")
def init_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Project folder (default: here).", show_default=False)
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing devrun.yaml.")] = False,
) -> None:
    """Write a commented devrun.yaml from the folder's compose file or Dockerfile."""
    from devrun import loader
    from devrun.init import init_project

    if not folder.is_dir():
        raise DevrunError(f"{folder} is not a folder")
    result = init_project(folder, force=force)
    shown = os.path.relpath(result.path)
    print(f"wrote {shown} from {result.source}")
    for skipped in result.skipped:
        print(f"  not translated: {skipped}")
    try:
        cfg = loader.load_file(result.path)
    except ConfigError as e:
        # written anyway: the user fixes the named lines rather than starting over
        for line in e.lines():
            print(line, file=sys.stderr)
        print(f"devrun: {shown} needs the fixes above before `devrun up`", file=sys.stderr)
        raise typer.Exit(1) from None
    print(f"checked: {len(cfg.project.services)} service(s) valid; next: `devrun up`")
