"""`devrun down`: ask a running `up` to stop first (it would see its
containers go and recreate them), then remove what the project owns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from devrun.config.loader import LoadedConfig
from devrun.output import Printer
from devrun.session import lifecycle, project_ops
from devrun.session.project_lock import stop_running_up

if TYPE_CHECKING:
    from devrun.engine.protocol import Engine


def _stop_running_up(name: str, timeout: float, printer: Printer) -> None:
    pid = stop_running_up(name, timeout=timeout)
    if pid is not None:
        printer.info(f"stopped the running `devrun up` of {name} (pid {pid})")


def down_project(
    engine: Engine,
    cfg: LoadedConfig,
    printer: Printer,
    *,
    volumes: bool = False,
    remove_orphans: bool = False,
    timeout: float | None = None,
    rmi: Literal["local", "all"] | None = None,
) -> None:
    """Stop and remove the project's containers (one-offs too) and networks;
    named volumes only with `volumes`, images only with `rmi`."""
    grace = max((s.stop_grace_period for s in cfg.project.services.values()), default=10.0)
    _stop_running_up(cfg.name, (grace if timeout is None else timeout) + 10, printer)
    project_ops.remove_oneoffs(engine, cfg.name, volumes=volumes)
    if timeout is not None:
        project_ops.stop_services(engine, cfg, [], timeout)
    lifecycle.down(engine, cfg, printer, volumes=volumes, remove_orphans=remove_orphans)
    if rmi:
        project_ops.remove_images(engine, project_ops.image_refs(cfg, rmi), printer)


def down_by_name(engine: Engine, name: str, printer: Printer, *, volumes: bool = False) -> None:
    """A config with errors must not keep anyone from cleaning up: everything
    carrying the project's label goes."""
    _stop_running_up(name, 20, printer)
    lifecycle.down_by_labels(engine, name, printer, volumes=volumes)
