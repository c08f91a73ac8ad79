"""post_start and pre_stop hooks (compose's lifecycle hooks): commands run in
the container, by exec, after each start devrun makes and before each stop.

As compose: a failing post_start is reported (its exit code and last lines)
and the container keeps running; `up` goes on. A failing pre_stop is reported
and the stop goes on (compose leaves the container running then; a dev loop's
stop must stop). A service without hooks costs no engine call."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from devrun.errors import EngineError

if TYPE_CHECKING:
    from devrun.config.loader import LoadedConfig
    from devrun.config.model import Hook
    from devrun.engine.protocol import Engine
    from devrun.output import Printer

LAST_LINES = 5


def _env(hook: Hook) -> dict[str, str]:
    # a name without a value takes it from the shell, as in `environment:`
    out = {k: v if v is not None else os.environ.get(k) for k, v in hook.environment.items()}
    return {k: v for k, v in out.items() if v is not None}


def run_hooks(engine: Engine, printer: Printer, service: str, kind: str, hooks: list[Hook], cid: str) -> bool:
    """Run each hook in order; a failure is one error line (with the hook's last
    lines) and ends the list, as in compose. Returns whether all succeeded."""
    for i, hook in enumerate(hooks):
        lines: list[str] = []
        which = f"{kind}[{i}]" if len(hooks) > 1 else kind
        try:
            code = engine.exec(
                cid,
                list(hook.command),
                lambda _stream, line, lines=lines: lines.append(line),
                user=hook.user,
                workdir=hook.working_dir,
                env=_env(hook) or None,
                privileged=hook.privileged,
            )
        except EngineError as e:
            printer.error(f"service {service}: {which} hook could not run: {e}")
            return False
        if code != 0:
            printer.error(
                f"service {service}: {which} hook exited with status {code}"
                + "".join(f"\n  {service} | {line}" for line in lines[-LAST_LINES:])
            )
            return False
    return True


def post_start(engine: Engine, cfg: LoadedConfig, printer: Printer, service: str, cid: str) -> bool:
    """After a start devrun made: the service's post_start hooks."""
    svc = cfg.project.services.get(service)
    if svc is None or not svc.post_start:
        return True
    return run_hooks(engine, printer, service, "post_start", svc.post_start, cid)


def pre_stop(engine: Engine, cfg: LoadedConfig, printer: Printer, service: str, cid: str) -> bool:
    """Before a stop devrun makes: the service's pre_stop hooks, when the
    container runs (a stopped one has nothing to run them in)."""
    svc = cfg.project.services.get(service)
    if svc is None or not svc.pre_stop:
        return True
    try:
        if not engine.state(cid).running:
            return True
    except EngineError:
        return True  # gone: nothing to stop
    return run_hooks(engine, printer, service, "pre_stop", svc.pre_stop, cid)


def pre_stop_by_id(
    engine: Engine, cfg: LoadedConfig, printer: Printer, services: dict[str, str]
) -> Callable[[str], None] | None:
    """For stop_containers: container id -> its service's pre_stop hooks;
    None when none of `services` (container id -> service) has any."""
    if not any((s := cfg.project.services.get(name)) and s.pre_stop for name in services.values()):
        return None
    return lambda cid: None if cid not in services else pre_stop(engine, cfg, printer, services[cid], cid)
