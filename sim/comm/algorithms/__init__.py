"""Collective algorithms as schedules, and the table of which algorithm does which op."""

from __future__ import annotations

import numpy as np

from sim.comm.algorithms import direct, double_binary_tree, halving_doubling, hierarchical, ring
from sim.comm.ops import normalise_op
from sim.comm.schedule import Builder, Schedule
from sim.errors import CposimError

FLAT = {m.NAME: m for m in (ring, double_binary_tree, halving_doubling, direct)}

# algorithm -> ops it implements
ALGORITHMS: dict[str, tuple[str, ...]] = {m.NAME: m.OPS for m in FLAT.values()}
ALGORITHMS[hierarchical.NAME] = hierarchical.OPS

ALIASES = {"dbt": "double-binary-tree", "tree": "double-binary-tree",
           "doublebinarytree": "double-binary-tree", "hd": "halving-doubling",
           "rhd": "halving-doubling", "halvingdoubling": "halving-doubling",
           "recursive-halving-doubling": "halving-doubling", "hier": "hierarchical",
           "2d": "hierarchical"}


def normalise_algorithm(name: str, field: str = "algorithm") -> str:
    key = str(name).lower().replace("_", "-")
    key = ALIASES.get(key, ALIASES.get(key.replace("-", ""), key))
    if key != "auto" and key not in ALGORITHMS:
        raise CposimError(f"unknown algorithm {name!r}; choose from auto, "
                          f"{', '.join(ALGORITHMS)}", field=field)
    return key


def supports(algorithm: str, op: str) -> bool:
    return op in ALGORITHMS[algorithm]


def _check(algorithm: str, op: str, field: str = "algorithm") -> None:
    if not supports(algorithm, op):
        can = [a for a, ops in ALGORITHMS.items() if op in ops]
        raise CposimError(f"algorithm {algorithm!r} does not implement {op}; use one of "
                          f"{', '.join(can)}", field=field)


def build_schedule(op: str, algorithm: str, n: int, size_bytes: float, *, root: int = 0,
                   split_bytes: np.ndarray | None = None, layout: np.ndarray | None = None,
                   intra: str = "ring", inter: str = "ring") -> Schedule:
    """The schedule of ``op`` on ``n`` ranks (rank indices 0..n-1).

    ``layout`` (``(domains, ranks per domain)`` of rank indices) is needed by
    ``hierarchical``; ``intra`` / ``inter`` name the algorithms of its phases.
    """
    op = normalise_op(op)
    algorithm = normalise_algorithm(algorithm)
    if not 0 <= root < n:
        raise CposimError(f"root {root} is not a rank of a group of {n}", field="root")
    if split_bytes is not None and op != "alltoall":
        raise CposimError("split_bytes is only meaningful for alltoall", field="split_bytes")
    if algorithm == "auto":
        raise CposimError("resolve 'auto' before building a schedule", field="algorithm")
    _check(algorithm, op)
    if n == 1:
        return Builder(1).build(op, algorithm, size_bytes, root)
    if algorithm == hierarchical.NAME:
        if layout is None:
            raise CposimError("hierarchical needs the communicator to span several scale-up "
                              "domains with the same number of ranks in each", field="algorithm")
        intra, inter = normalise_algorithm(intra, "intra"), normalise_algorithm(inter, "inter")
        for name, sub in (("intra", intra), ("inter", inter)):
            if sub in ("hierarchical", "auto"):
                raise CposimError(f"{name} algorithm must be a flat algorithm", field=name)
        for sub_op, where in ((p.split()[1], p.split()[0]) for p in hierarchical.PHASES[op]):
            _check(intra if where == "intra" else inter, sub_op, where)
        mi, me = FLAT[intra], FLAT[inter]
        return hierarchical.build(op, layout, size_bytes, root,
                                  lambda o, k, s, r: mi.build(o, k, s, r),
                                  lambda o, k, s, r: me.build(o, k, s, r))
    mod = FLAT[algorithm]
    if algorithm == direct.NAME:
        return mod.build(op, n, size_bytes, root, split_bytes)
    if split_bytes is not None:
        raise CposimError("uneven all-to-all (split_bytes) needs the direct algorithm",
                          field="split_bytes")
    return mod.build(op, n, size_bytes, root)
