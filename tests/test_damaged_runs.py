"""Every file of a real run folder damaged several ways, and every command that reads a run
folder run on it: exit 1 with one line naming the file, or, for a command that does not read
that file, the very answer the undamaged run gives; never a traceback, never a wrong answer.

The commands run in this process (`cli_here`); `serve` stops where uvicorn would start."""

import json
import random
import shutil
import socket

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from mnistlab.serve import server
from mnistlab.training.run import TrainConfig, train
from predict_helpers import draw_seven
from train_helpers import Interrupt

pytestmark = pytest.mark.slow  # two tiny runs on real data

FILES = ("config.json", "model.safetensors", "history.csv", "metrics.json")
READS = {  # which files of a finished run each command reads
    "evaluate": set(FILES),
    "report": set(FILES),
    "predict": {"config.json", "model.safetensors", "metrics.json"},
    "serve": {"config.json", "model.safetensors", "metrics.json"},
    "export": {"config.json", "model.safetensors"},
    "resume": {"config.json", "model.safetensors"},  # then: "it has finished already"
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished NumPy run (exports and predicts in milliseconds), an MLP run stopped after
    its first checkpoint, an image to predict, and the undamaged run's answers."""
    root = tmp_path_factory.mktemp("damaged")
    small = dict(epochs=2, train_limit=500, val_size=200)
    train(TrainConfig(model="numpy", out=str(root / "finished"), **small))

    def stop(row, model):
        raise Interrupt

    with pytest.raises(Interrupt):
        train(TrainConfig(model="mlp", out=str(root / "unfinished"), **small), on_epoch_end=stop)
    draw_seven().save(root / "seven.png")
    return root


def _tensors(path):
    with safe_open(path, framework="numpy") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}  # noqa: SIM118


def _rewrite(path, change) -> None:
    arrays, metadata = _tensors(path)
    change(arrays, metadata)
    save_file(arrays, path, metadata=metadata)


def _json(path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _state(path, change) -> None:
    def edit(arrays, metadata):
        state = json.loads(metadata["state"])
        metadata["state"] = change(state)

    _rewrite(path, edit)


def _drop(document, key):
    document.pop(key)


RANDOM = bytes(random.Random(0).randrange(256) for _ in range(512))
BYTES = {  # damage any file: its bytes
    "truncated": lambda data: data[: len(data) // 2],
    "random": lambda data: RANDOM,
    "not-utf8": lambda data: data[:9] + b"\xff" + data[10:],  # inside a safetensors header
    "empty": lambda data: b"",
}
SHAPED = {  # damage a file of one kind, keeping it readable as that kind
    "config.json": {
        "list": lambda p: p.write_text("[1, 2]"),
        "no-model": lambda p: _json(p, lambda d: _drop(d, "model")),
        "no-classes": lambda p: _json(p, lambda d: _drop(d, "classes")),
        "classes-a-string": lambda p: _json(p, lambda d: d.update(classes="0123456789")),
        "unknown-model": lambda p: _json(p, lambda d: d.update(model="resnet")),
    },
    "metrics.json": {
        "list": lambda p: p.write_text("[1, 2]"),
        "no-accuracy": lambda p: _json(p, lambda d: _drop(d, "accuracy")),
        "accuracy-a-string": lambda p: _json(p, lambda d: d.update(accuracy="high")),
    },
    "history.csv": {
        "a-word": lambda p: p.write_text(p.read_text().replace("\n2,", "\nx,")),
        "no-epoch-column": lambda p: p.write_text(
            "".join(line.split(",", 1)[1] + "\n" for line in p.read_text().splitlines())
        ),
        "a-row-lost": lambda p: p.write_text("\n".join(p.read_text().splitlines()[:-1]) + "\n"),
    },
    "model.safetensors": {
        "a-tensor-lost": lambda p: _rewrite(p, lambda a, m: a.pop("W2")),
        "a-wrong-shape": lambda p: _rewrite(p, lambda a, m: a.update(W2=a["W2"][:5])),
    },
    "checkpoint.safetensors": {
        "state-a-list": lambda p: _state(p, lambda s: "[1, 2]"),
        "state-without-epoch": lambda p: _state(p, lambda s: json.dumps(_drop(s, "epoch") or s)),
        "no-state": lambda p: _rewrite(p, lambda a, m: m.pop("state")),
        "a-weight-lost": lambda p: _rewrite(p, lambda a, m: a.pop(next(iter(sorted(a))))),
        "optimizer-wrong-shape": lambda p: _rewrite(
            p, lambda a, m: a.update({"optim.0.exp_avg": np.zeros((3, 3), np.float32)})
        ),
    },
}
CASES = [
    (file, how)
    for file in (*FILES, "checkpoint.safetensors")
    for how in (*BYTES, *SHAPED[file], "missing")
]


def _damage(run, file, how) -> None:
    path = run / file
    if how == "missing":
        path.unlink()
    elif how in BYTES:
        path.write_bytes(BYTES[how](path.read_bytes()))
    else:
        SHAPED[file][how](path)


@pytest.fixture
def commands(made, cli_here, monkeypatch, tmp_path):
    """run(command, run_dir): the CompletedProcess of `mnistlab COMMAND` on run_dir; `serve`
    checks, loads and announces, and stops where uvicorn would start (in this process)."""
    monkeypatch.setattr(server, "_serve", lambda *args: print("SERVING"))
    monkeypatch.setattr(server, "_prepared", lambda run, runtime, folder: server._prepare(
        run, runtime, folder))  # fmt: skip

    def run(command, run_dir):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        args = {
            "evaluate": ["evaluate", run_dir, "--json"],
            "report": ["report", run_dir],
            "predict": ["predict", "--run", run_dir, made / "seven.png", "--json"],
            "serve": ["serve", "--run", run_dir, "--port", port, "--runtime", "torch"],
            "export": ["export", run_dir, "--out", tmp_path / "model.onnx"],
            "resume": ["train", "--out", run_dir, "--resume"],
        }[command]
        return cli_here(*args)

    return run


def test_an_unfinished_run_says_how_to_finish_it(made, commands, tmp_path):
    run = tmp_path / "unfinished"
    shutil.copytree(made / "unfinished", run)
    for command in ("evaluate", "predict", "serve", "export", "report"):
        said = commands(command, run)
        assert said.returncode == 1 and said.stderr.count("\n") == 1, said.stderr
        assert "has not finished training (its checkpoint is after epoch 1)" in said.stderr
        assert f"finish it with: mnistlab train --out {run} --resume" in said.stderr


BASELINE: dict = {}  # the undamaged runs' answers, by run


@pytest.mark.parametrize(("file", "how"), CASES)
def test_a_damaged_file_is_one_line_or_changes_no_answer(made, commands, tmp_path, file, how):
    unfinished = file == "checkpoint.safetensors"
    source = made / ("unfinished" if unfinished else "finished")
    if source.name not in BASELINE:
        BASELINE[source.name] = _answers(source, commands, tmp_path / "baseline")
    for command in READS:
        run = tmp_path / command / source.name  # the same folder name: export's metadata has it
        shutil.copytree(source, run)
        _damage(run, file, how)
        result = commands(command, run)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        if _reads(command, file, how):
            _one_line(command, result, _named(command, file, how))
        else:  # the command does not read the file: the undamaged run's answer
            assert result.returncode == 0, (command, result.stderr)
            answer = _answer(command, result, tmp_path)
            if command in BASELINE[source.name]:
                assert answer == BASELINE[source.name][command], command
            elif command == "evaluate":  # metrics.json removed: written again, the same
                accuracy = json.loads((source / "metrics.json").read_text())["accuracy"]
                assert answer == pytest.approx(accuracy, abs=1e-9)


def _reads(command: str, file: str, how: str) -> bool:
    """Whether `command` must refuse the run with `file` damaged `how`."""
    if file == "checkpoint.safetensors":
        return True  # an unfinished run: every command reads the checkpoint's header
    if file == "metrics.json" and how == "missing":
        return command == "resume"  # a finished run may have none: evaluate writes it
    return file in READS[command] or command == "resume"  # resume: "finished already"


TENSORS = ("a-weight-lost", "optimizer-wrong-shape")  # a checkpoint's header still reads well


def _named(command: str, file: str, how: str) -> str:
    """What the one line must say."""
    if file == "checkpoint.safetensors" and how == "missing":
        return "no checkpoint"
    if file == "checkpoint.safetensors" and how in TENSORS and command != "resume":
        return "--resume"  # finish it with --resume, which then names the checkpoint
    if command == "resume" and file not in READS["resume"] | {"checkpoint.safetensors"}:
        return "no checkpoint to resume from (it has finished already)"
    return f"has no {file}" if how == "missing" else file


def _one_line(command: str, result, named: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode == 1, (command, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), (command, result.stderr)
    assert named in lines[0], (command, lines[0])
    assert result.stdout == "", (command, result.stdout)  # no banner, no half answer


def _answers(source, commands, folder) -> dict:
    """The undamaged run's answer to each command that can succeed on it."""
    answers = {}
    for command in ("predict", "serve", "export"):
        run = folder / command / source.name
        shutil.copytree(source, run)
        result = commands(command, run)
        answers[command] = result.returncode == 0 and _answer(command, result, folder.parent)
    return answers


def _answer(command, result, tmp_path):
    if command == "predict":
        return [{k: v for k, v in p.items() if k != "file"} for p in json.loads(result.stdout)]
    if command == "export":
        return (tmp_path / "model.onnx").read_bytes()
    if command == "evaluate":
        return json.loads(result.stdout)["accuracy"]
    return result.stdout  # serve: "SERVING", the run checked, loaded and announced
