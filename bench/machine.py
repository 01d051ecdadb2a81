"""The machine a benchmark's figures were measured on, recorded beside the figures.

Every benchmark takes `--precision auto|bf16|fp32` (add_options/apply_options) and prints
`line(machine())` first: the CPU, the instruction sets that decide the speed (AVX2, AVX-512,
AVX512-BF16, AMX-BF16), cores, threads and the compute path the models ran on. Its records
(bench/records.py) also keep `kind(info)`, the short name under which docs/benchmarks.md
groups the figures. torch is imported only to measure, so that `line` and `kind` are cheap
to import (the records' tests).
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from mnistlab import precision

# torch.cpu.get_capabilities() names and how the machine line writes them, slowest first
FLAG_NAMES = {"avx2": "AVX2", "avx512_f": "AVX-512", "avx512_bf16": "AVX512-BF16",
              "amx_bf16": "AMX-BF16"}  # fmt: skip


def cpu_flags() -> dict[str, bool]:
    import torch

    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return {flag: bool(caps.get(flag)) for flag in FLAG_NAMES}


def machine() -> dict:
    """What the figures depend on: CPU, flags, cores, threads, compute path, library versions,
    GPU if any, and the load average (1, 5, 15 minutes), since other jobs slow a run down."""
    import numpy as np
    import torch

    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "cpu": cpu,
        "flags": cpu_flags(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "precision": precision.compute_path(device),
        "precision_detail": precision.describe(device),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "load_average": os.getloadavg(),
    }


def line(info: dict) -> str:
    """The machine line every benchmark prints above its table."""
    flags = " ".join(FLAG_NAMES[f] for f, on in info["flags"].items() if on) or "no AVX2"
    gpu = f", GPU {info['gpu']}" if info["gpu"] else ""
    return (
        f"# {info['cpu']} ({flags}), {info['cores']} cores, {info['torch_threads']} torch "
        f"threads{gpu}, precision {info['precision_detail']}, torch {info['torch']}, "
        f"load average {info['load_average'][0]:.1f}"
    )


def kind(info: dict) -> str:
    """The CPU kind, one short name per family whose figures compare: what decides them is
    the best bf16 path (AMX, AVX512-BF16, or float32 on AVX2). Any other CPU is named by its
    vendor and its best instruction set, e.g. "Intel (AVX-512)" or "ARM (no AVX2)"."""
    cpu, flags = info.get("cpu") or "", info.get("flags") or {}
    if flags.get("amx_bf16"):  # Intel's alone
        return "Intel Xeon (AMX)"
    if "EPYC" in cpu and flags.get("avx512_bf16"):
        return "AMD EPYC Zen 4/5 (AVX-512 BF16)"
    if "EPYC" in cpu and flags.get("avx2") and not flags.get("avx512_f"):
        return "AMD EPYC Zen 1-3 (AVX2)"
    vendor = next((v for v in ("Intel", "AMD") if v in cpu), (cpu.split() or ["unknown"])[0])
    best = next((name for flag, name in reversed(FLAG_NAMES.items()) if flags.get(flag)), None)
    return f"{vendor} ({best or 'no AVX2'})"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=precision.MODES, default=None,
                        help="compute path (default MNISTLAB_PRECISION, else auto)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")


def apply_options(args: argparse.Namespace) -> None:
    import torch

    if args.precision:
        precision.use(args.precision)
        os.environ[precision.ENV] = args.precision  # and in any server the benchmark starts
    if args.threads:
        torch.set_num_threads(args.threads)
