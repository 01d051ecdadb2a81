"""The data commands as a user runs them: a real process, stdout and stderr apart."""

import json

from PIL import Image


def test_info_json_parses(cli):
    result = cli("data", "info", "fashion-mnist", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["name"], info["train"], info["test"], info["verified"]) == (
        "fashion-mnist",
        60000,
        10000,
        True,
    )
    assert info["classes"][9] == "Ankle boot"


def test_list_json(cli):
    rows = json.loads(cli("data", "list", "--json").stdout)
    assert [r["name"] for r in rows] == ["mnist", "fashion-mnist"]


def test_user_error_is_one_line(cli):
    result = cli("data", "info", "kmnist")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "unknown dataset 'kmnist'" in result.stderr and "Traceback" not in result.stderr


def test_show_writes_a_grid(tmp_path, cli):
    out = tmp_path / "grid.png"
    result = cli("data", "show", "mnist", "--n", "16", "--out", out)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 300


def test_every_command_has_help(cli_here):
    for args in (["--help"], ["data", "--help"], ["data", "show", "--help"]):
        result = cli_here(*args)
        assert result.returncode == 0 and "Usage" in result.stdout
