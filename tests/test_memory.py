"""mnistlab.memory: freed training memory stays with the process (no page faults per step)."""

import subprocess
import sys

import pytest

FAULTS = """
import resource, sys, numpy as np
from mnistlab import memory
kept = memory.keep_freed_memory() if sys.argv[1] == "keep" else False
def step():  # a training step's activations: a few 25 MB blocks, all freed at its end
    blocks = [np.ones(25 << 20, np.uint8) for _ in range(3)]
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True)
    kept, faults = out.stdout.split()
    return kept == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_kept_memory_is_reused_without_page_faults():
    kept, faults = _faults("keep")
    _, default = _faults("default")
    assert kept
    # Default glibc gives freed blocks back, so steps fault pages in again (10,444 measured).
    assert default > 5_000 and faults < 500, (default, faults)
