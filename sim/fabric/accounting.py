"""Bytes and energy carried by links: the one energy formula, per-link byte sums, and the
per-technology split.

* :func:`dynamic_energy_j` — bits carried x pJ/bit, in joules: the dynamic link energy, used by
  every fabric total, by the collectives' per-technology results and by the link reports.
* :class:`LinkBytes` — bytes per link, sparse (a collective touches a few thousand of a large
  fabric's 10^6 directed links).
* :class:`TechTable` — each link's technology as a code into the sorted technology names, with
  its pJ/bit; :meth:`TechTable.split` sums a :class:`LinkBytes` per technology.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

PJ = 1e-12          # joules per picojoule


def dynamic_energy_j(link_bytes, pj_per_bit, *, total: bool = False):
    """Dynamic energy of ``link_bytes`` bytes over links of ``pj_per_bit``: bytes x 8 x pJ/bit,
    in joules, per element (numpy arrays or pandas Series), or with ``total`` summed to one
    float (the sum is taken in pJ, then scaled)."""
    bit_pj = link_bytes * 8.0 * pj_per_bit
    if total:
        return float(bit_pj.sum() * PJ)
    return bit_pj * PJ


class LinkBytes(NamedTuple):
    """Bytes carried per link, sparse: ``links`` (distinct link ids) and ``bytes``.

    A collective touches a few thousand of a large fabric's 10^6 directed links; dense
    per-link arrays per collective cost more than the collective's own arithmetic."""

    links: np.ndarray
    bytes: np.ndarray

    @classmethod
    def of(cls, link_ids: np.ndarray, weights: np.ndarray, n_links: int = 0) -> LinkBytes:
        """Sum ``weights`` per link id (ids may repeat). With ``n_links`` and many ids, a
        dense count beats sorting them (same sums: both add in input order)."""
        link_ids = np.asarray(link_ids, dtype=np.int64)
        if not link_ids.size:
            return cls.empty()
        if n_links and 16 * link_ids.size > n_links:
            dense = np.bincount(link_ids, weights=weights, minlength=n_links)
            used = np.bincount(link_ids, minlength=n_links) > 0
            links = np.flatnonzero(used)
            return cls(links, dense[links])
        uniq, inv = np.unique(link_ids, return_inverse=True)
        return cls(uniq, np.bincount(inv.ravel(), weights=weights, minlength=uniq.size))

    @classmethod
    def empty(cls) -> LinkBytes:
        return cls(np.zeros(0, np.int64), np.zeros(0))

    @classmethod
    def from_dense(cls, per_link: np.ndarray) -> LinkBytes:
        nz = np.flatnonzero(per_link)
        return cls(nz, per_link[nz])

    def total(self) -> float:
        return float(self.bytes.sum())

    def dense(self, n_links: int) -> np.ndarray:
        out = np.zeros(n_links)
        out[self.links] = self.bytes
        return out


def factorize(values) -> tuple[np.ndarray, np.ndarray]:
    """(codes, sorted distinct names) of an array of strings, hash-based: np.unique sorts the
    10^6 strings of a 131k-GPU fabric. pandas' factorize where a run has loaded pandas anyway
    (studies, reports); a dict otherwise, so that `cposim collective` need not import it
    (0.4 s). Both give the same codes."""
    if "pandas" in sys.modules:
        codes, names = sys.modules["pandas"].factorize(np.asarray(values, dtype=object),
                                                       sort=True)
        return codes.astype(np.int64), np.asarray(names, dtype=str)
    seen: dict = {}
    first = np.fromiter((seen.setdefault(v, len(seen)) for v in np.asarray(values).tolist()),
                        dtype=np.int64, count=len(values))
    names = sorted(seen)
    rank = np.empty(len(names), np.int64)
    rank[[seen[v] for v in names]] = np.arange(len(names))
    return rank[first], np.asarray(names, dtype=str)


class TechTable(NamedTuple):
    """Per directed link of a topology: its technology's code into ``names`` (sorted) and its
    pJ/bit. ``tech`` is the topology's array it was made from (a new array, a new table)."""

    tech: np.ndarray
    names: np.ndarray
    codes: np.ndarray
    pj_per_bit: np.ndarray

    @classmethod
    def of(cls, topology) -> TechTable:
        codes, names = factorize(topology.tech)
        return cls(topology.tech, names, codes, np.asarray(topology.energy_pj_per_bit, float))

    def split(self, lb: LinkBytes) -> tuple[dict, dict]:
        """(link bytes by technology, dynamic energy by technology) of ``lb``; only the
        technologies that carried bytes."""
        energy = dynamic_energy_j(lb.bytes, self.pj_per_bit[lb.links])
        code = self.codes[lb.links]
        b_sum = np.bincount(code, weights=lb.bytes, minlength=self.names.size)
        e_sum = np.bincount(code, weights=energy, minlength=self.names.size)
        by_bytes, by_energy = {}, {}
        for i, t in enumerate(self.names.tolist()):
            if b_sum[i] > 0:
                by_bytes[t] = float(b_sum[i])
                by_energy[t] = float(e_sum[i])
        return by_bytes, by_energy


class TechTableCache:
    """The :class:`TechTable` of a fabric's topology, made on first use and again when the
    topology's technology array is replaced; a fabric owns one (its scratch copies share it)."""

    __slots__ = ("_table",)

    def __init__(self) -> None:
        self._table: TechTable | None = None

    def of(self, topology) -> TechTable:
        t = self._table
        if t is None or t.tech is not topology.tech:
            t = self._table = TechTable.of(topology)
        return t
