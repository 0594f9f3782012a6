"""Giving freed memory back to the operating system between the stages of a large run.

A panel-scale run frees hundreds of megabytes at a time (the file's text columns once they
are parsed, a refit's design matrix), much of it in blocks glibc's allocator keeps for
reuse instead of returning: the process then holds twice what it uses. :func:`release_memory`
collects garbage (statsmodels' models and results refer to each other, so they wait for
the collector) and asks glibc to return its free memory (``malloc_trim``); elsewhere the
second step does nothing.

:func:`keep_large_blocks_apart` stops glibc from moving the threshold above which a block
gets pages of its own (``mmap``, returned to the system the moment it is freed): after
each large free glibc raises it, up to 32 MiB, so that a panel's column-sized temporaries
(tens of megabytes) then come from the heap and stay with the process after they are freed.
"""

from __future__ import annotations

import ctypes
import gc
import sys


def release_memory() -> None:
    """Collect garbage and return the allocator's free memory to the operating system."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):     # not glibc (e.g. musl): nothing to trim
            pass


#: Blocks of at least this many bytes get pages of their own (a column of 2 million
#: doubles is 16 MiB); smaller ones, such as the membership model's row chunks, are
#: reused from the heap as glibc does by default.
MMAP_THRESHOLD = 16 << 20

#: Free memory at the top of the heap kept for reuse: twice the threshold, as glibc sets
#: it when it moves the threshold itself (fixing the threshold would otherwise leave the
#: default 128 KiB, and every freed row chunk would be returned and faulted in again).
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

#: mallopt's parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_large_blocks_apart() -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` and its trim threshold at
    :data:`TRIM_THRESHOLD` (elsewhere: nothing)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        except (OSError, AttributeError):
            pass


#: Rows of a panel worked at a time wherever a whole-column temporary (distances,
#: probabilities, formatted text) would cost hundreds of megabytes: a chunk of a few
#: doubles per row is a few megabytes.
PANEL_CHUNK_ROWS = 262_144


def row_chunks(n: int, size: int = PANEL_CHUNK_ROWS) -> list[slice]:
    """Slices covering rows ``0..n`` in order, ``size`` rows at a time (none when ``n`` is 0)."""
    return [slice(lo, min(lo + size, n)) for lo in range(0, n, size)]
