"""Giving freed memory back to the operating system between the stages of a large run.

A panel-scale run frees hundreds of megabytes at a time (the file's text columns once they
are parsed, a refit's design matrix), much of it in blocks glibc's allocator keeps for
reuse instead of returning: the process then holds twice what it uses. :func:`release_memory`
collects garbage (statsmodels' models and results refer to each other, so they wait for
the collector) and asks glibc to return its free memory (``malloc_trim``); elsewhere the
second step does nothing.
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
