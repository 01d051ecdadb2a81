"""Keep the memory a training run frees, instead of handing it back to the kernel each step.

glibc's malloc returns large freed blocks to the kernel (munmap, heap trimming), so the next
step's activations come back as fresh pages, each one a page fault the kernel has to zero.
`best`'s activation tensors at batch 256 are about 25 MB: served from the heap (blocks up to
glibc's 32 MB ceiling) and the heap never trimmed, they stop faulting, and its float32 step
on 2 cores of an AMD EPYC Zen 4 took 8% less (docs/decisions/training-speed.md). This is
what the jemalloc/tcmalloc advice of PyTorch's CPU tuning guide buys, without another
allocator. The price: the process keeps its peak heap until it exits.
"""

from __future__ import annotations

import ctypes
import functools
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems
NEVER_TRIM = 2**31 - 1  # mallopt takes an int


@functools.cache
def keep_freed_memory() -> bool:
    """Serve blocks up to 32 MB from the heap and keep it whole; True where that applied
    (glibc on Linux). Elsewhere a no-op: other allocators have their own policies."""
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the process's own C library
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
        mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
    )
