"""A collective too big for memory stops before its first allocation, with the numbers."""

import numpy as np
import pytest

import sim.comm.memory as memory
from sim.comm.algorithms import direct
from sim.errors import CposimError


def test_available_memory_is_read():
    have = memory.available_bytes()
    assert have is None or have > 0


@pytest.mark.parametrize("op, rows", [("alltoall", 1), ("allgather", 1), ("allreduce", 2)])
def test_direct_schedules_beyond_memory_are_refused(monkeypatch, op, rows):
    n = 1000
    need = rows * n * (n - 1) * memory.BYTES_PER_TRANSFER
    monkeypatch.setattr(memory, "available_bytes", lambda: need - 1)
    with pytest.raises(CposimError) as e:
        direct.build(op, n, 1e6)
    assert e.value.field == "gpus"
    assert f"{rows * n * (n - 1):,} point-to-point transfers" in str(e.value)
    monkeypatch.setattr(memory, "available_bytes", lambda: need)   # just fits: built
    s = direct.build(op, n, 1e6)
    assert s.n_rows == rows * n * (n - 1)


def test_broadcast_is_linear_and_unknown_memory_never_refuses(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1)
    assert direct.build("broadcast", 1000, 1e6).n_rows == 999
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    s = direct.build("alltoall", 64, 64e6)
    assert s.n_rows == 64 * 63 and np.allclose(s.flow_bytes, 1e6)


def test_cposim_collective_alltoall_of_16384_gpus_exits_with_one_line(monkeypatch, capsys):
    from sim.cli import main

    monkeypatch.setattr(memory, "available_bytes", lambda: 24 * 10**9)
    code = main(["collective", "--op", "alltoall", "--gpus", "16384", "--size", "1GiB",
                 "--topology", "switch", "--link-bandwidth", "50GB/s", "--link-latency",
                 "500ns"])
    err = capsys.readouterr().err
    assert code == 2 and "268,419,072 point-to-point transfers" in err and "gpus" in err
    assert len(err.strip().splitlines()) == 1
