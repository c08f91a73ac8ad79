"""Compose-style interpolation and .env parsing, as pure functions, plus the
precedence of the shell over .env through the loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from devrun.config.interpolate import InterpolationError, interpolate, parse_env_file
from devrun.config.loader import load_file

ENV = {"SET": "value", "EMPTY": "", "OTHER": "other", "INNER": "SET"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("pre-$SET-post", "pre-value-post"),
        ("${SET}suffix", "valuesuffix"),
        ("$SETsuffix", ""),  # the name runs on, as in compose
        ("$UNSET", ""),
        ("${UNSET}", ""),
        # :- uses the default when unset or empty; - only when unset
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${SET:-dflt}", "value"),
        ("${UNSET-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${SET-dflt}", "value"),
        # :+ / + give the alternative when set (and non-empty for :+)
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        # ? / :? pass the value through when present
        ("${SET:?needed}", "value"),
        ("${EMPTY?needed}", ""),
        # nested defaults
        ("${UNSET:-${OTHER}}", "other"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-a-$SET-b}", "a-value-b"),
        ("${SET:+x${OTHER}y}", "xothery"),
        # $$ is a literal $, so shell snippets keep their variables
        ("$$HOME", "$HOME"),
        ("$${SET}", "${SET}"),
        ("echo $$1 $$$SET", "echo $1 $value"),
        ("cost: 5$", "cost: 5$"),
        ("$ alone", "$ alone"),
        ("${UNSET:-}", ""),
        ("${UNSET:-a:b}", "a:b"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("${UNSET:?set UNSET first}", "UNSET: set UNSET first"),
        ("${EMPTY:?must not be empty}", "EMPTY: must not be empty"),
        ("${UNSET?gone}", "UNSET: gone"),
        ("${UNSET:?}", "variable UNSET is required"),
        ("${UNSET", "unterminated '${'"),
        ("${UNSET:-${X}", "unterminated '${'"),
        ("${}", "invalid variable"),
        ("${1ABC}", "invalid variable"),
        ("${A B}", "after the name use"),
        ("${SET/x/y}", "after the name use"),
    ],
)
def test_interpolate_errors(text: str, says: str) -> None:
    with pytest.raises(InterpolationError, match=None) as info:
        interpolate(text, ENV)
    assert says in str(info.value)


def test_required_message_is_itself_interpolated() -> None:
    with pytest.raises(InterpolationError, match="UNSET: needed by other"):
        interpolate("${UNSET:?needed by $OTHER}", ENV)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_env_file_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.env",
        "# comment\n"
        "\n"
        "PLAIN=1\n"
        "export EXPORTED=yes\n"
        "  SPACED = padded  \n"
        "SINGLE='single # not a comment'\n"
        'DOUBLE="line\\nbreak"\n'
        "TRAILING=value # a comment\n"
        "EMPTY=\n"
        "DOTTED.KEY=ok\n",
    )
    values, problems = parse_env_file(path)
    assert problems == []
    assert values == {
        "PLAIN": "1",
        "EXPORTED": "yes",
        "SPACED": "padded",
        "SINGLE": "single # not a comment",
        "DOUBLE": "line\nbreak",
        "TRAILING": "value",
        "EMPTY": "",
        "DOTTED.KEY": "ok",
    }


def test_env_file_name_alone_takes_the_environment_value(tmp_path: Path) -> None:
    """As compose reads env files: `KEY` alone is KEY's value in the environment, or nothing."""
    path = write(tmp_path, "a.env", "KEY\nUNSET\n")
    assert parse_env_file(path, {"KEY": "from-env"}) == ({"KEY": "from-env"}, [])


@pytest.mark.parametrize("line", ["=x", "export", "just words", "1ABC=x", "-KEY=1"])
def test_env_file_bad_lines(tmp_path: Path, line: str) -> None:
    path = write(tmp_path, "bad.env", f"GOOD=1\n{line}\n")
    values, problems = parse_env_file(path)
    assert values == {"GOOD": "1"}
    assert [ln for ln, _ in problems] == [2]
    assert "write KEY=VALUE" in problems[0][1]


def test_shell_wins_over_dotenv(tmp_path: Path) -> None:
    write(tmp_path, ".env", "TAG=from-dotenv\nONLY_DOTENV=dot\n")
    write(
        tmp_path,
        "devrun.yaml",
        "services:\n  web:\n    image: busybox:${TAG}\n    environment:\n      A: ${ONLY_DOTENV}\n",
    )
    cfg = load_file(tmp_path / "devrun.yaml", environ={"TAG": "from-shell"})
    web = cfg.project.services["web"]
    assert web.image == "busybox:from-shell"
    assert web.environment["A"] == "dot"
    assert tmp_path / ".env" in cfg.sources

    cfg = load_file(tmp_path / "devrun.yaml", environ={})
    assert cfg.project.services["web"].image == "busybox:from-dotenv"


def test_env_file_values_and_environment_precedence(tmp_path: Path) -> None:
    """environment beats env_file; a bare name takes the value from the shell."""
    write(tmp_path, "app.env", "A=from-file\nB=from-file\n")
    write(
        tmp_path,
        "devrun.yaml",
        "services:\n  web:\n    image: x\n    env_file: app.env\n    environment:\n      B: from-config\n      C:\n      D: $$literal\n",
    )
    cfg = load_file(tmp_path / "devrun.yaml", environ={"C": "from-shell"})
    assert cfg.project.services["web"].environment == {
        "A": "from-file",
        "B": "from-config",
        "C": "from-shell",
        "D": "$literal",
    }
    assert (tmp_path / "app.env").resolve() in cfg.sources


def test_dollar_dollar_reaches_the_command(tmp_path: Path) -> None:
    write(
        tmp_path,
        "devrun.yaml",
        "services:\n  web:\n    image: x\n    command: sh -c 'echo $$HOME ${GREETING:-hi}'\n",
    )
    cfg = load_file(tmp_path / "devrun.yaml", environ={})
    assert cfg.project.services["web"].command == ["sh", "-c", "echo $HOME hi"]
