"""devrun's one error family. Every expected failure becomes one of these at
the boundary where it happens; only the CLI turns them into exit codes."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class DevrunError(Exception):
    """An expected failure with a message meant for people."""

    exit_code = EXIT_FAILURE

    def lines(self) -> list[str]:
        return [f"devrun: {line}" for line in str(self).splitlines() or [type(self).__name__]]


class UsageError(DevrunError):
    exit_code = EXIT_USAGE


class EngineError(DevrunError):
    """The Docker engine refused or failed something."""


class LockedError(DevrunError):
    """Another devrun up already runs for this project."""


@dataclass(frozen=True)
class Problem:
    """One config problem, located as precisely as the source allows."""

    file: str
    line: int | None
    col: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        # one line per problem, even when a key or value the user wrote holds a line break
        return text.replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(DevrunError):
    exit_code = EXIT_USAGE

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]
