"""Exposed-communication attribution against hand-computed timelines."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.runtime.timeline import attribute


def test_hand_computed_breakdown():
    # compute [0,2] and [5,6]; tp comm [1,3] (1 s under compute, 1 s exposed);
    # dp comm [2.5,4.5] overlaps nothing but idle -> 2 s exposed, but [2.5,3] shared with tp.
    out = attribute(7.0, np.array([[0, 2], [5, 6]]), [(1, 3, "tp"), (2.5, 4.5, "dp")])
    assert out["compute_s"] == pytest.approx(3.0)
    assert out["overlapped_tp_s"] == pytest.approx(1.0)
    assert out["exposed_tp_s"] == pytest.approx(0.5 + 0.25)
    assert out["exposed_dp_s"] == pytest.approx(0.25 + 1.5)
    # idle with nothing in flight: [4.5,5] and [6,7]
    assert out["bubble_s"] == pytest.approx(1.5)


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10), st.sampled_from(["a", "b"])),
                max_size=6),
       st.lists(st.floats(0, 10), max_size=6))
def test_parts_add_up_to_the_iteration(comms, cuts):
    cuts = sorted(cuts)
    compute = np.array([[cuts[i], cuts[i + 1]] for i in range(0, len(cuts) - 1, 2)]).reshape(-1, 2)
    comm = [(min(s, e), max(s, e), g) for s, e, g in comms]
    out = attribute(10.0, compute, comm)
    exposed = sum(v for k, v in out.items() if k.startswith("exposed_"))
    assert out["compute_s"] + exposed + out["bubble_s"] == pytest.approx(10.0, abs=1e-9)
    assert all(v >= -1e-12 for v in out.values())
