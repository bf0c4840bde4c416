"""numpy's transparent-huge-page advice, off in the processes cposim's commands own.

numpy asks the kernel for huge pages (``madvise(MADV_HUGEPAGE)``) on every array of 4 MiB or
more. With the usual Linux setting ``transparent_hugepage/defrag = madvise``, such a fault
compacts memory synchronously until a 2 MiB page is free. cposim builds many short-lived
arrays of that size (per-cable columns, route tables, pair sets), so the first run in a
process stalls: one GPT-3 iteration on 131,072 GPUs (``analytical``) took 1.42-1.54 s with
the advice and 1.03-1.07 s without; later runs, which reuse freed memory, and the
16,384-GPU ``flow`` case were the same either way (development VM, Linux THP
``enabled=madvise, defrag=madvise``).

The ``cposim`` command and ``python -m experiments.perf`` call :func:`default_off` first
thing; importing cposim changes nothing (a library does not reset another library's
process-wide settings). In a notebook or script, call it yourself. The user's own
``NUMPY_MADVISE_HUGEPAGE`` (0 or 1), read by numpy at import, always stands.
"""

from __future__ import annotations

import os
import sys

ENV = "NUMPY_MADVISE_HUGEPAGE"


def _setter():
    import numpy as np
    for mod in ("_core", "core"):                     # numpy 2.x, 1.x
        ma = getattr(getattr(np, mod, None), "multiarray", None)
        fn = getattr(ma, "_set_madvise_hugepage", None)
        if fn is not None:
            return fn
    return None


def default_off() -> bool:
    """Turn numpy's huge-page advice off unless the user chose with ``NUMPY_MADVISE_HUGEPAGE``;
    returns whether it was turned off (False also where numpy has no such switch)."""
    if ENV in os.environ:
        return False
    if "numpy" not in sys.modules:
        # numpy reads the variable when it is imported: no need to import it here (0.1 s of
        # `cposim --help`); child processes (sweep workers) inherit the choice
        os.environ[ENV] = "0"
        return True
    fn = _setter()
    if fn is None:
        return False
    fn(False)
    return True
