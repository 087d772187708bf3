"""Keep the C heap from holding on to freed buffers (peak memory at 1080p).

glibc serves large allocations with mmap and returns them to the system when
freed, but it raises that threshold each time such a block is freed, up to
32 MB. After the first few video frames (6 MB each at 1080p) and model
buffers, frames come from the threads' heaps instead, where freed space is
kept and fragments: peak RSS of a 1080p run varied from 930 MB to 1070 MB.
Pinning the threshold at 8 MB stops the drift: frames still come from the heap
(mapping and zeroing every one made a run 25 % slower), larger buffers are
mapped and given back. (The models' activations live in ONNX Runtime's own
arena, which keeps them between looks: veil.detect.weights.) Pinning it also pins the trim threshold at
16 MB, and giving the heap's top back that eagerly made the decode + encode
pipeline 30 % slower, so the trim threshold is set to 64 MB. Peak RSS of the
1080p benchmark run dropped to 830-880 MB at the same speed (benchmarks/RESULTS.md,
measured before the arena was turned back on, which added about 160 MB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
MMAP_THRESHOLD_BYTES = 8 << 20
TRIM_THRESHOLD_BYTES = 64 << 20


@functools.cache
def pin_malloc_thresholds() -> None:
    """Pin glibc's mmap and trim thresholds for this process, once; a no-op elsewhere or if the user set them."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
