"""The ``fastnn`` command."""
from fastnn import cli


def test_config_command_prints_the_configuration(capsys):
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "OpenMP" in out and "SIMD path" in out and "threads" in out


def test_unknown_command_is_an_error_with_usage(capsys):
    assert cli.main(["nope"]) == 2
    assert "fashion-mnist" in capsys.readouterr().err


def test_help(capsys):
    assert cli.main(["--help"]) == 0
    assert "fastnn config" in capsys.readouterr().out
