"""Label keys devrun puts on everything it creates. Labels decide ownership and
staleness; names are for people."""

from __future__ import annotations

PROJECT = "dev.devrun.project"
SERVICE = "dev.devrun.service"
CONFIG_HASH = "dev.devrun.config-hash"
VERSION = "dev.devrun.version"
VOLUME = "dev.devrun.volume"
RESTART_MODE = "dev.devrun.restart-mode"


def project_filter(project: str) -> dict[str, str]:
    """Engine list/event filter selecting one project's resources."""
    return {"label": f"{PROJECT}={project}"}
