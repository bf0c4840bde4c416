"""Pausing Python's cyclic garbage collector around allocation-heavy work, as ``timeit`` does.

Building a trace or running an iteration allocates 10^5 small objects (ops, dependency
tuples, closures, events, communicators), which triggers the collector's passes; every
tenth young pass is followed, once enough has survived, by a full pass that walks the whole
heap (the trace, the topology, pandas, ...), ~0.1 s at 131k GPUs, and finds almost nothing:
these objects are freed by reference counting (a test checks a run leaves no cycles). The
allocations still count, so the collector runs its young pass when it is resumed.
"""

from __future__ import annotations

import functools
import gc
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused():
    """Automatic cyclic collection off inside; the caller's setting restored after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def gc_paused(fn):
    """Decorator form of :func:`cyclic_gc_paused`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with cyclic_gc_paused():
            return fn(*args, **kwargs)
    return wrapper
