"""The one hash of routing: the splitmix64 finaliser, for the ECMP choice of a flow at a hop
(a hash of seed, hop, source and destination, deterministic like a 5-tuple hash with fixed
ports) and for grouping equal lists of seed switches (:meth:`RouteGraph._shared_rows`).

Changing anything here changes which equal-cost path every hash-mode flow takes.
"""

from __future__ import annotations

import functools

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix_inplace(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of uint64 array ``x``, in place (wrapping arithmetic; in place:
    the hot path hashes 10^5-10^6 flows per hop, and temporaries cost more than the math)."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of ``x`` as uint64 (a new array)."""
    return _mix_inplace(np.array(x, dtype=np.uint64))


@functools.lru_cache(maxsize=4096)
def _salt(seed: int, hop: int) -> int:
    """The hash salt of (seed, hop): :func:`_mix` of one value, cached (a flow batch asks for
    it at every hop, and numpy's per-call cost on one value is ~10x the Python int math)."""
    m = 0xFFFFFFFFFFFFFFFF
    x = (seed * 0x9E3779B97F4A7C15 + hop * 0x632BE59BD9B4E019) & m
    return int(_mix(np.array([x], dtype=np.uint64))[0])


def _flow_key(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """What the ECMP hash of a flow (src, dst node) reads."""
    with np.errstate(over="ignore"):
        return src.astype(np.uint64) * np.uint64(1 << 32) + dst.astype(np.uint64)


def _flow_hash(key: np.ndarray, seed: int, hop: int) -> np.ndarray:
    """The ECMP hash of flows with keys ``key`` (:func:`_flow_key`) at ``hop``."""
    return _mix_inplace(key ^ np.uint64(_salt(int(seed), int(hop))))


def _hash_offsets(key: np.ndarray, count: np.ndarray, seed: int, hop: int) -> np.ndarray:
    """Which of its ``count`` equal-cost candidates (0-based, int64) each flow's hash picks at
    ``hop``; only flows with a choice are hashed (most hops of a fabric have none)."""
    multi = count > 1
    if multi.all():
        return (_flow_hash(key, seed, hop) % count.astype(np.uint64)).view(np.int64)
    out = np.zeros(count.size, dtype=np.int64)
    m = np.flatnonzero(multi)
    if m.size:
        out[m] = _flow_hash(key[m], seed, hop) % count[m].astype(np.uint64)
    return out
