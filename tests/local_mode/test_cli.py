"""The CLI's help and its answers to user mistakes (one line, exit code 2, no traceback)."""

from __future__ import annotations

import pytest

from local_mode import cli

COMMANDS = ["run", "models", "approve", "reject", "forecast", "accuracy"]


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return int(exit_info.value.code or 0)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_every_command_has_help(capsys, command):
    assert exit_code([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m local_mode")
    assert "--home" in out or not command
    if not command:
        assert all(c in out for c in COMMANDS)


def one_error_line(capsys, argv: list[str]) -> str:
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_versions_are_one_line(capsys, tmp_path):
    line = one_error_line(capsys, ["approve", "3", "--home", str(tmp_path)])
    assert "no version 3" in line


def test_forecast_needs_an_approved_version(capsys, tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("date,x\n")
    line = one_error_line(capsys, ["forecast", "--home", str(tmp_path), "--history", str(history)])
    assert "no Approved version" in line


def test_bad_options_are_one_line(capsys, tmp_path):
    assert "expected KEY=VALUE" in one_error_line(capsys, ["run", "-H", "d_model"])
    assert "--data" in one_error_line(
        capsys, ["run", "--home", str(tmp_path), "--data", str(tmp_path / "absent.csv")]
    )
    assert "not allowed with" in one_error_line(capsys, ["approve", "2", "--latest"])


def test_approve_needs_a_version_or_latest(capsys):
    assert "one of the arguments" in one_error_line(capsys, ["approve"])


def test_models_on_an_empty_home_says_how_to_start(capsys, tmp_path):
    cli.main(["models", "--home", str(tmp_path)])
    assert "register one with: python -m local_mode run" in capsys.readouterr().out
