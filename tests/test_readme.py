"""The README's commands and Python names are real: a newcomer copies them as they are."""

import importlib
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, re.S)
SUBCOMMANDS = {"data"}  # groups whose first word is followed by a command of their own


def _commands() -> list[list[str]]:
    text = "\n".join(body for lang, body in BLOCKS if lang == "bash").replace("\\\n", " ")
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    words = [shlex.split(line) for line in lines if line]
    for w in words:  # torchrun ... -m mnistlab train ...: the part after the module
        if "-m" in w and w[w.index("-m") + 1] == "mnistlab":
            w[: w.index("-m") + 2] = ["mnistlab"]
    return [w[1:] for w in words if w[0] == "mnistlab"]


@pytest.mark.parametrize("args", _commands(), ids=" ".join)
def test_every_readme_command_and_flag_exists(cli_here, args):
    command = args[:2] if args[0] in SUBCOMMANDS else args[:1]
    done = cli_here(*command, "--help")
    assert done.returncode == 0, done.stderr
    for flag in (a.split("=")[0] for a in args if a.startswith("--")):
        assert flag in done.stdout, f"mnistlab {' '.join(command)} has no {flag}"


def test_every_name_the_readme_imports_exists():
    code = "\n".join(body for lang, body in BLOCKS if lang == "python")
    imports = re.findall(r"^from (mnistlab[\w.]*) import (.+)$", code, re.M)
    assert imports, "the README shows the Python API"
    for module, names in imports:
        for name in (n.strip() for n in names.split(",")):
            assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
