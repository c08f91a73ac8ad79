"""`python -m devrun` and the `devrun` command. Ctrl-C or SIGTERM while
Python is still importing devrun's dependencies ends quietly, with the exit
code a shell expects, instead of printing a traceback."""

import signal
import sys


def main() -> None:
    try:
        # until the CLI installs its own handling: SIGTERM interrupts the imports too
        signal.signal(signal.SIGTERM, _terminated)
        if len(sys.argv) > 1 and {"wait", "ps", "logs", "restart"} & set(sys.argv[1:6]):
            # a running `up` answers these before anything heavy is imported (cli/fast.py)
            from devrun.cli.fast import run as fast_run

            code = fast_run(sys.argv[1:])
            if code is not None:
                sys.exit(code)
        if not OFFLINE & set(sys.argv[1:]):
            from devrun.engine import keep_paramiko_out_unless_ssh

            keep_paramiko_out_unless_ssh(sys.argv[1:])
        from devrun.cli.main import main as cli_main
    except KeyboardInterrupt:
        sys.exit(130)
    except _Terminated:
        sys.exit(143)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    cli_main()


# commands that never talk to an engine (nothing to decide about paramiko)
OFFLINE = {"config", "schema", "init", "--version", "--help", "-h"}


class _Terminated(BaseException):
    pass


def _terminated(_signum, _frame) -> None:
    raise _Terminated


if __name__ == "__main__":
    main()
