"""ASTRA-sim's logical topologies: which NPUs a collective phase talks to.

ASTRA-sim semantics (``astra-sim/system/astraccl/native_collectives/logical_topology/``):

* ``GeneralComplexTopology.cc``: one logical dimension per entry of a collective's
  ``*-implementation`` list (a list shorter than the network leaves the higher network
  dimensions out of that collective; a longer one aborts). ring / direct / halvingDoubling
  get a ring over the NPUs that differ only in that dimension: n = npus_count[d], stride =
  product of the lower dimensions. A ``one*`` entry is one ring over *all* NPUs (stride 1)
  and ends the list. doubleBinaryTree gets a ``DoubleBinaryTreeTopology``.
* ``RingTopology.cc``: receiver = next NPU of the ring (Clockwise) or previous
  (Anticlockwise); the ring of a communicator group (``CommunicatorGroup.cc``) follows the
  group's NPU list in file order and has dimension ``Local``, which changes the algorithms'
  per-message delay (``MemBus`` "Fast" = 10 ns instead of the endpoint delay) and direct's
  packet count.
* ``BinaryTree.cpp`` / ``DoubleBinaryTreeTopology.cc``: a tree of depth d (2^(d-1) <= n),
  numbered in order (start, start+stride, ...): "max" = perfect tree on the left of a top
  node that is the last id (the root), "min" = on the right of a top node that is the first id.
  Each new phase on the same (collective type, dimension) alternates max, min, max, ...
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.errors import CposimError

CW, CCW = 1, -1


@dataclass(frozen=True)
class RingTopology:
    """A ring of NPU ids in ring order; ``local`` = a communicator group's ring."""

    nodes: tuple[int, ...]
    local: bool = False

    @property
    def n(self) -> int:
        return len(self.nodes)

    def index(self, npu: int) -> int:
        return self._index()[npu]

    def _index(self) -> dict[int, int]:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {v: i for i, v in enumerate(self.nodes)}
            object.__setattr__(self, "_idx", idx)
        return idx

    def receiver(self, npu: int, direction: int) -> int:
        return self.nodes[(self._index()[npu] + direction) % len(self.nodes)]

    def sender(self, npu: int, direction: int) -> int:
        return self.nodes[(self._index()[npu] - direction) % len(self.nodes)]


def homogeneous_ring(npu: int, n: int, stride: int) -> RingTopology:
    """The ring through ``npu`` of the NPUs that differ only in one dimension (size n)."""
    base = npu - ((npu // stride) % n) * stride
    return RingTopology(tuple(base + i * stride for i in range(n)))


class BinaryTree:
    """``BinaryTree.cpp``: parent / left / right of every NPU of one tree."""

    def __init__(self, kind: str, n: int, start: int, stride: int) -> None:
        depth, tmp = 1, n
        while tmp > 1:
            depth += 1
            tmp //= 2
        self.n = n
        self.info: dict[int, tuple[int, int, int, str]] = {}
        # nodes as [parent, left, right, id]; the top node gets one perfect subtree
        def build(d: int, parent):
            x = [parent, None, None, -1]
            if d > 1:
                x[1] = build(d - 1, x)
                x[2] = build(d - 1, x)
            return x

        top = [None, None, None, -1]
        sub = build(depth - 1, top) if depth > 1 else None
        if kind == "min":
            top[2] = sub
        else:
            top[1] = sub
        order = []

        def walk(x) -> None:
            if x[1] is not None:
                walk(x[1])
            order.append(x)
            if x[2] is not None:
                walk(x[2])

        walk(top)
        for k, x in enumerate(order):
            x[3] = start + k * stride
        for x in order:
            p = x[0][3] if x[0] is not None else -1
            left = x[1][3] if x[1] is not None else -1
            right = x[2][3] if x[2] is not None else -1
            if x[0] is None:
                role = "root"
            elif x[1] is None and x[2] is None:
                role = "leaf"
            else:
                role = "intermediate"
            self.info[x[3]] = (p, left, right, role)

    def of(self, npu: int, where: str, key: str) -> tuple[int, int, int, str]:
        got = self.info.get(npu)
        if got is None:   # ASTRA-sim dereferences a missing tree node: segfault
            raise CposimError(f"NPU {npu} is not in its doubleBinaryTree (the dimension has "
                              f"{self.n} NPUs, not a power of two, or the implementation list "
                              "is shorter than the network's dimensions); ASTRA-sim crashes "
                              "here", file=where, field=key)
        return got
