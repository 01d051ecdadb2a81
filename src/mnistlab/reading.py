"""Reading files a person may have damaged, replaced or half-copied: atomic.py writes, this reads.

Every way a read can fail (unreadable, not UTF-8, not JSON, a JSON value of the wrong shape,
a key missing or of the wrong type, a damaged safetensors file) is one MnistlabError that
names the file, says what is wrong with it and what to do; the caller, which knows what the
file is for, says what to do (`fix`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mnistlab.errors import MnistlabError

# What a field may hold: JSON's kinds, with numbers apart from integers (true is no integer).
KINDS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def damaged(path: str | Path, problem: str, fix: str) -> MnistlabError:
    """The one-line error for a file that is there but cannot be used."""
    return MnistlabError(f"{path} is damaged ({problem}); {fix}")


def read_bytes(path: str | Path, fix: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise MnistlabError(f"cannot read {path}: {e.strerror or e}; {fix}") from None


def read_text(path: str | Path, fix: str) -> str:
    data = read_bytes(path, fix)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise damaged(
            path, f"not UTF-8 text: byte {e.start} is {data[e.start]:#04x}", fix
        ) from None


def parse_json(text: str, path: str | Path, fix: str, kind: str = "object"):
    """`text` as a JSON value of `kind` (a JSON object by default), or a one-line error."""
    if not text.strip():
        raise damaged(path, "empty", fix)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise damaged(path, f"not valid JSON: {e.msg}, line {e.lineno}", fix) from None
    except RecursionError:
        raise damaged(path, "JSON nested too deeply", fix) from None
    if not KINDS[kind](value):
        raise damaged(path, f"a JSON {_kind(value)} where a JSON {kind} belongs", fix)
    return value


def read_json(path: str | Path, fix: str, kind: str = "object"):
    return parse_json(read_text(path, fix), path, fix, kind)


def check_fields(doc: dict, path: str | Path, fix: str, required: dict[str, str],
                 optional: dict[str, str] | None = None, where: str = "") -> None:  # fmt: skip
    """Each `required` key present, and every key named holding its kind ("int", "number",
    "str|null"...); numbers must be finite. `where` names the part of the file (a key path)."""
    for key in required:
        if key not in doc:
            raise damaged(path, f"no {where}{key!r}", fix)
    for key, kinds in {**required, **(optional or {})}.items():
        if key not in doc:
            continue
        value = doc[key]
        if not any(KINDS[k](value) for k in kinds.split("|")):
            shown = json.dumps(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise damaged(path, f"{where}{key!r} is {shown}, not a {kinds.replace('|', ' or ')}",
                          fix)  # fmt: skip
        if KINDS["number"](value) and not math.isfinite(value):
            raise damaged(path, f"{where}{key!r} is {value}, not a finite number", fix)


def _kind(value) -> str:
    for name in ("object", "list", "str", "bool", "int", "number", "null"):
        if KINDS[name](value):
            return {"str": "string", "int": "number"}.get(name, name)
    return type(value).__name__
