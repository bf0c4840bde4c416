"""Max-min fair rates over a sparse flow x link incidence: local-bottleneck water-filling.

Progressive filling raises every unfrozen flow's rate together; a link saturates when its
remaining capacity is used up, and the flows on it freeze. The textbook version takes one
round per distinct rate level (thousands on oversubscribed fabrics). The *local-bottleneck*
variant freezes in one round every link whose fair
share ``s_l = rem_l / demand_l`` is no larger than the smallest share on the path of every
flow crossing it: such a link saturates at ``s_l`` whatever else happens, because shares of
other links only grow as flows freeze elsewhere. It is exact, and needs ~10 rounds where the
global-min version needs thousands.

Incidence is CSR by flow: ``indptr`` (F+1), ``links`` (nnz), ``coef`` (nnz, the fraction of
the flow crossing that link: 1 on a single path, 1/k on an even ECMP split), ``weight`` (F,
how many identical flows the row stands for). A link carries ``sum(weight * coef * rate)``.
Each round is two segment-min reductions and two ``bincount``s; pure numpy.
"""

from __future__ import annotations

import numpy as np

# A link whose share is within this relative distance of a flow's path minimum counts as
# that flow's bottleneck: float noise must not leave a saturated link unfrozen.
_REL_TOL = 1e-12


def maxmin_rates(indptr: np.ndarray, links: np.ndarray, capacity: np.ndarray,
                 coef: np.ndarray | None = None, weight: np.ndarray | None = None,
                 *, return_rounds: bool = False):
    """Per-flow max-min fair rates (same unit as ``capacity``).

    ``links`` index into ``capacity``. Every flow must cross at least one link. Rates are per
    flow (per member of a weighted row). With ``return_rounds`` also returns the number of
    water-filling rounds.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    n_flows = indptr.size - 1
    links = np.asarray(links, dtype=np.int64)
    cap = np.asarray(capacity, dtype=np.float64)
    nnz = links.size
    if coef is None:
        coef = np.ones(nnz)
    if weight is None:
        weight = np.ones(n_flows)
    lens = np.diff(indptr)
    if n_flows and lens.min() <= 0:
        raise ValueError("every flow must cross at least one link")
    rate = np.zeros(n_flows)
    if n_flows == 0:
        return (rate, 0) if return_rounds else rate

    # Work on a compact link numbering so per-round arrays are as small as the problem.
    used, local = np.unique(links, return_inverse=True)
    rem = cap[used].astype(np.float64).copy()
    n_links = used.size

    flow_of = np.repeat(np.arange(n_flows), lens)      # entry -> flow (original index)
    e_link = local
    e_load = np.asarray(coef, dtype=np.float64) * np.asarray(weight, dtype=np.float64)[flow_of]
    f_ids = np.arange(n_flows)                          # active flows, in entry order
    f_start = indptr[:-1].copy()                        # their segment starts in the entry arrays
    rounds = 0
    while f_ids.size:
        rounds += 1
        demand = np.bincount(e_link, weights=e_load, minlength=n_links)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(demand > 0, rem / demand, np.inf)
        share = np.maximum(share, 0.0)
        e_share = share[e_link]
        f_min = np.minimum.reduceat(e_share, f_start)  # each active flow's path minimum
        e_fmin = np.repeat(f_min, np.diff(np.append(f_start, e_link.size)))
        link_min = np.full(n_links, np.inf)
        np.minimum.at(link_min, e_link, e_fmin)
        bottleneck = (demand > 0) & (share <= link_min * (1.0 + _REL_TOL))
        # A flow freezes if it crosses a bottleneck link; its rate is its path minimum.
        e_frozen = bottleneck[e_link]
        f_frozen = np.logical_or.reduceat(e_frozen, f_start)
        frozen_ids = f_ids[f_frozen]
        rate[frozen_ids] = f_min[f_frozen]
        e_of_frozen = np.repeat(f_frozen, np.diff(np.append(f_start, e_link.size)))
        used_cap = np.bincount(e_link[e_of_frozen],
                               weights=e_load[e_of_frozen] * e_fmin[e_of_frozen],
                               minlength=n_links)
        rem = np.maximum(rem - used_cap, 0.0)
        rem[bottleneck] = 0.0
        keep = ~e_of_frozen
        seg_len = np.diff(np.append(f_start, e_link.size))[~f_frozen]
        f_ids = f_ids[~f_frozen]
        e_link = e_link[keep]
        e_load = e_load[keep]
        f_start = np.concatenate(([0], np.cumsum(seg_len)[:-1])) if seg_len.size else seg_len
    return (rate, rounds) if return_rounds else rate
