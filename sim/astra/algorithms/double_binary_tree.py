"""ASTRA-sim's ``doubleBinaryTree`` collective phase (class ``DoubleBinaryTreeAllReduce``).

ASTRA-sim semantics (``.../collective_algorithm/DoubleBinaryTreeAllReduce.cc :: run``):
**always an all-reduce of the full D bytes**, whatever the requested collective (so an
all-gather / reduce-scatter / all-to-all with doubleBinaryTree takes the all-reduce's time and
hands D to the next phase). Every message carries D bytes; every bundle is "Usual" (endpoint
delay E, + R(D) when reducing), even on a Local ring.

* leaf: E -> send to parent; on the parent's message: E -> done.
* intermediate: each child's message -> E + R(D); after both bundles: send to parent; on
  the parent's message: E + R(D) -> send to both children -> done.
* root: on its child's message: E + R(D) -> send it back -> done.

NPUs therefore finish at different ticks (root first, leaves last).
"""

from __future__ import annotations

from sim.astra.algorithms.base import ALL_REDUCE, Phase
from sim.astra.logical import BinaryTree


class DoubleBinaryTree(Phase):
    __slots__ = ("parent", "left", "right", "role", "state", "reductions")

    def __init__(self, sys, tree: BinaryTree, data: int, queue: int, delay_ns: int,
                 where: str, key: str) -> None:
        super().__init__(sys, ALL_REDUCE, data, queue, tree.n, data, delay_ns)
        self.parent, self.left, self.right, self.role = tree.of(sys.npu, where, key)
        self.state = "begin"
        self.reductions = 0

    def _recv_from(self, src: int) -> None:
        self.recv(src, self.data)

    def on_init(self) -> None:
        self._run(False)

    def on_general(self) -> None:
        self._run(False)

    def on_recv(self) -> None:
        self._run(True)

    def _run(self, is_recv: bool) -> None:
        st, role = self.state, self.role
        if role == "leaf":
            if st == "begin":
                self.bundle(self.data, False)
                self.state = "to_parent"
            elif st == "to_parent":
                self.send(self.parent, self.data)
                self._recv_from(self.parent)
                self.state = "from_parent"
            elif st == "from_parent":
                self.bundle(self.data, False)
                self.state = "end"
            elif st == "end":
                self.exit()
        elif role == "intermediate":
            if st == "begin":
                self.state = "two_children"
                self._recv_from(self.left)
                self._recv_from(self.right)
            elif st == "two_children" and is_recv:
                self.bundle(self.data, True)
                self.state = "one_child"
            elif st == "one_child" and is_recv:
                self.bundle(self.data, True)
                self.state = "to_parent"
            elif self.reductions < 1 and not is_recv:
                self.reductions += 1     # the first child's reduction finished
            elif st == "to_parent":
                self.state = "from_parent"
                self.send(self.parent, self.data)
                self._recv_from(self.parent)
            elif st == "from_parent" and is_recv:
                self.bundle(self.data, True)
                self.state = "to_children"
            elif st == "to_children":
                self.send(self.left, self.data)
                self.send(self.right, self.data)
                self.exit()
        else:   # root
            child = self.left if self.left >= 0 else self.right
            if st == "begin":
                self.state = "one_child"
                self._recv_from(child)
            elif st == "one_child":
                self.bundle(self.data, True)
                self.state = "to_children"
            elif st == "to_children":
                self.send(child, self.data)
                self.exit()
