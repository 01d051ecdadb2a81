"""The machine a benchmark's figures were measured on, recorded beside the figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np
import torch


def machine() -> dict:
    """What the figures depend on: CPU, cores, threads, library versions, GPU if any, and the
    load average (1, 5, 15 minutes) when it was asked, since other jobs slow a run down."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "load_average": os.getloadavg(),
    }
