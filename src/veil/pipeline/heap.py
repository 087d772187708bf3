"""Keep the C heap from holding on to freed buffers (peak memory at 1080p).

glibc serves large allocations with mmap and returns them to the system when
freed, but it raises that threshold each time such a block is freed, up to
32 MB. After the first few video frames (6 MB each at 1080p) and model
buffers, frames come from the threads' heaps instead, where freed space is
kept and fragments: peak RSS of a 1080p run varied from 930 MB to 1070 MB.
Pinning the threshold at 8 MB stops the drift: frames still come from the heap
(mapping and zeroing every one made a run 25 % slower), the model's larger
buffers are mapped and given back; peak RSS was 824 MB at the same speed
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 8 << 20


@functools.cache
def pin_mmap_threshold() -> None:
    """Pin glibc's mmap threshold for this process, once; a no-op elsewhere or if the user set it."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
