"""devrun: a live-reload runner for containerized development environments."""

__version__ = "0.1.0"
