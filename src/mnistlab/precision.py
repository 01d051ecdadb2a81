"""Which arithmetic the PyTorch models compute in: bfloat16 autocast or float32.

bf16 pays only where the hardware computes it: with AMX-BF16 (and on most GPUs) it made
`fast`'s step 2.5x quicker than float32; with AVX512-BF16 alone (AMD EPYC Zen 4 and 5) `fast`
gained nothing over float32, though `auto` counts it as native; on AVX2-only CPUs oneDNN
emulates bf16 and it is slower than float32 (docs/decisions/training-speed.md). So the mode
is a choice of the process, not of a saved model (the weights are float32 either way and a
run predicts on any machine):

- `auto` (the default): bf16 exactly where the device has native bf16, float32 elsewhere;
- `bf16`: autocast everywhere (emulated where not native: slow, and a warning says so);
- `fp32`: float32 everywhere, to check the float32 path on a machine that has bf16.

The mode comes from `use()` (the CLI's `--precision`), else MNISTLAB_PRECISION, else auto.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Iterator

from mnistlab.errors import MnistlabError

MODES = ("auto", "bf16", "fp32")
ENV = "MNISTLAB_PRECISION"
_chosen: str | None = None  # set by use(); None: read the environment


class EmulatedBf16Warning(UserWarning):
    """bf16 was forced on a device that emulates it."""


def check(mode: str, source: str = "--precision") -> str:
    if mode not in MODES:
        raise MnistlabError(f"unknown {source} {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def use(mode: str | None) -> None:
    """Set this process's mode (None: back to MNISTLAB_PRECISION, else auto)."""
    global _chosen
    _chosen = None if mode is None else check(mode)


@contextlib.contextmanager
def using(mode: str | None) -> Iterator[None]:
    """use(mode) for the duration of a block (None: leave the mode as it is)."""
    before = _chosen
    if mode is not None:
        use(mode)
    try:
        yield
    finally:
        use(before)


def requested() -> str:
    """The mode asked for: use()'s, else the environment's, else auto."""
    if _chosen is not None:
        return _chosen
    return check(os.environ.get(ENV, "auto").strip().lower() or "auto", ENV)


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether this device computes bf16 in hardware (elsewhere bf16 is emulated, slower).
    torch is imported here, not with the module: a server on onnxruntime never needs it."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type == "cpu" and hasattr(torch.cpu, "get_capabilities"):
        caps = torch.cpu.get_capabilities()
        return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    return False


def compute_path(device_type: str = "cpu") -> str:
    """ "bf16" or "fp32": what the models compute in on this device under the requested mode."""
    mode = requested()
    if mode == "auto":
        return "bf16" if native_bf16(device_type) else "fp32"
    if mode == "bf16" and not native_bf16(device_type):
        _warn_emulated(device_type)
    return mode


def describe(device_type: str = "cpu") -> str:
    """One line for headers and benchmark machine lines, e.g. "bf16 (auto, native bf16)"."""
    path, mode = compute_path(device_type), requested()
    native = "native" if native_bf16(device_type) else "emulated"
    return f"{path} ({mode}, {native} bf16)" if path == "bf16" else f"{path} ({mode})"


@functools.cache
def _warn_emulated(device_type: str) -> None:
    warnings.warn(
        f"{ENV}/--precision bf16 on a {device_type} without native bf16: it is emulated and "
        "slower than float32 here; use auto or fp32 for speed",
        EmulatedBf16Warning,
        stacklevel=3,
    )
