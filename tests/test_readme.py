"""The commands and Python names of the README and docs/ are real: a newcomer copies them."""

import importlib
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [b for page in PAGES for b in re.findall(r"```(\w*)\n(.*?)```", page.read_text(), re.S)]
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
def test_every_command_and_flag_shown_exists(args):
    import typer

    from mnistlab.cli import app

    command = typer.main.get_command(app)
    for word in args[:2] if args[0] in SUBCOMMANDS else args[:1]:
        command = command.commands.get(word)
        assert command is not None, f"mnistlab has no command {' '.join(args[:2])}"
    flags = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    for flag in (a.split("=")[0] for a in args if a.startswith("--")):
        assert flag in flags, f"mnistlab {command.name} has no {flag}"


def test_every_name_shown_imported_exists():
    code = "\n".join(body for lang, body in BLOCKS if lang == "python")
    imports = re.findall(r"^from (mnistlab[\w.]*) import (.+)$", code, re.M)
    assert imports, "the README shows the Python API"
    for module, names in imports:
        for name in (n.strip() for n in names.split(",")):
            assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
