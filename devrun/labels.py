"""Label keys devrun puts on everything it creates. Labels decide ownership and
staleness; names are for people."""

from __future__ import annotations

PROJECT = "dev.devrun.project"
SERVICE = "dev.devrun.service"
CONFIG_HASH = "dev.devrun.config-hash"
VERSION = "dev.devrun.version"
VOLUME = "dev.devrun.volume"
RESTART_MODE = "dev.devrun.restart-mode"
# on a `run` container: the service it was made from. It carries no service
# label, so neither `up` nor the live loop takes it for the service's own.
ONEOFF = "dev.devrun.oneoff"


def project_filter(project: str) -> dict[str, str]:
    """Engine list/event filter selecting one project's resources."""
    return {"label": f"{PROJECT}={project}"}
