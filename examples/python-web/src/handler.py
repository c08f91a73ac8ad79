"""Edit me while `devrun up` runs: devrun sends SIGHUP and the app re-imports this file."""

GREETING = "hello from devrun"


def respond(path: str) -> tuple[int, str]:
    return 200, f"{GREETING} (you asked for {path})\n"
