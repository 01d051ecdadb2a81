"""The machine a benchmark's figures were measured on, recorded beside the figures.

Every benchmark takes `--precision auto|bf16|fp32` (add_options/apply_options) and prints
`line(machine())` first: the CPU, the instruction sets that decide the speed (AVX2, AVX-512,
AVX512-BF16, AMX-BF16), cores, threads and the compute path the models ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np
import torch

from mnistlab import precision

FLAGS = ("avx2", "avx512_f", "avx512_bf16", "amx_bf16")  # torch.cpu.get_capabilities() names


def cpu_flags() -> dict[str, bool]:
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return {flag: bool(caps.get(flag)) for flag in FLAGS}


def machine() -> dict:
    """What the figures depend on: CPU, flags, cores, threads, compute path, library versions,
    GPU if any, and the load average (1, 5, 15 minutes), since other jobs slow a run down."""
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
    names = {"avx2": "AVX2", "avx512_f": "AVX-512", "avx512_bf16": "AVX512-BF16",
             "amx_bf16": "AMX-BF16"}  # fmt: skip
    flags = " ".join(names[f] for f, on in info["flags"].items() if on) or "no AVX2"
    gpu = f", GPU {info['gpu']}" if info["gpu"] else ""
    return (
        f"# {info['cpu']} ({flags}), {info['cores']} cores, {info['torch_threads']} torch "
        f"threads{gpu}, precision {info['precision_detail']}, torch {info['torch']}, "
        f"load average {info['load_average'][0]:.1f}"
    )


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=precision.MODES, default=None,
                        help="compute path (default MNISTLAB_PRECISION, else auto)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default all)")


def apply_options(args: argparse.Namespace) -> None:
    if args.precision:
        precision.use(args.precision)
        os.environ[precision.ENV] = args.precision  # and in any server the benchmark starts
    if args.threads:
        torch.set_num_threads(args.threads)
