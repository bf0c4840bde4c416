"""Collective algorithms as schedules, one module each, found and registered on import.

Every module of this package that declares ``ALGORITHM`` (an :class:`registry.Algorithm`) is
registered when the package is imported, so an algorithm is added by adding its module (see
:mod:`sim.comm.algorithms.registry`). :func:`build_schedule` is the one entry point that
checks a request against the registry and builds its schedule.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

from sim.comm.algorithms import registry
from sim.comm.algorithms.registry import (OpsByAlgorithm, check, for_op, names, normalise,
                                          supports)
from sim.comm.ops import normalise_op
from sim.comm.schedule import Builder, Schedule
from sim.errors import CposimError

__all__ = ["ALGORITHMS", "build_schedule", "check", "for_op", "names", "normalise_algorithm",
           "registry", "supports"]


def _register_modules() -> None:
    # sorted: registration order must not depend on the file system's
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "registry":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        alg = getattr(module, "ALGORITHM", None)
        if alg is not None and registry.find(alg.name) is not alg:
            registry.register(alg)


_register_modules()

# algorithm -> ops it implements (a live view of the registry)
ALGORITHMS = OpsByAlgorithm()


def normalise_algorithm(name: str, field: str = "algorithm") -> str:
    """The registered name of ``name`` (aliases, case and ``_`` folded), or ``auto``."""
    return normalise(name, field)


def build_schedule(op: str, algorithm: str, n: int, size_bytes: float, *, root: int = 0,
                   split_bytes: np.ndarray | None = None, layout: np.ndarray | None = None,
                   intra: str = "ring", inter: str = "ring") -> Schedule:
    """The schedule of ``op`` on ``n`` ranks (rank indices 0..n-1).

    ``layout`` (``(domains, ranks per domain)`` of rank indices) is needed by a composite
    algorithm (``hierarchical``) and used by a layout-aware one (``rings``); ``intra`` /
    ``inter`` name the algorithms of a composite one's phases.
    """
    op = normalise_op(op)
    algorithm = normalise_algorithm(algorithm)
    if not 0 <= root < n:
        raise CposimError(f"root {root} is not a rank of a group of {n}", field="root")
    if split_bytes is not None and op != "alltoall":
        raise CposimError("split_bytes is only meaningful for alltoall", field="split_bytes")
    if algorithm == registry.AUTO:
        raise CposimError("resolve 'auto' before building a schedule", field="algorithm")
    check(algorithm, op)
    if n == 1:
        return Builder(1).build(op, algorithm, size_bytes, root)
    alg = registry.find(algorithm)
    if alg.composite:
        return alg.build(op, n, size_bytes, root, layout=layout, intra=intra, inter=inter)
    if alg.layout_aware and split_bytes is None:
        alg.check_group(op, n)
        return alg.build(op, n, size_bytes, root, layout=layout)
    if alg.uneven_alltoall:
        alg.check_group(op, n)
        return alg.build(op, n, size_bytes, root, split_bytes=split_bytes)
    if split_bytes is not None:
        takers = [a for a in names() if registry.find(a).uneven_alltoall]
        raise CposimError(f"uneven all-to-all (split_bytes) needs the {' or '.join(takers)} "
                          "algorithm", field="split_bytes")
    return alg.flat_schedule(op, n, size_bytes, root)
