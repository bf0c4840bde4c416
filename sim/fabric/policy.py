"""Link policy: which technology each cable gets, from its tier and its length.

A policy is an ordered list of technologies; a cable gets the first one that
``sim.phy.resolve_link`` calls feasible at its lane rate and length. The named policies are
derived from the technology registry (``sim.phy.registry.policies``): ``copper-first`` is
Jensen Huang's "copper where possible, optical where necessary" (on stage with Marvell): passive
copper, then active copper (retimed AEC), then DSP pluggable optics; ``lpo`` is LPO with DSP
pluggables beyond its reach, and so on. A bare technology name is also a policy (that
technology only). Per-tier overrides (``tier_policy``) map a tier — ``scaleup``, ``leaf``,
``spine``, ``core`` — or the group ``scaleout`` (leaf+spine+core) to a policy, e.g.
``{"scaleup": "copper-first", "scaleout": "cpo"}``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sim.errors import CposimError
from sim.phy import registry

# Views of the registry (not copies): a technology registered later is a policy here too.
TECHNOLOGIES = registry.NamesView()
POLICIES = registry.View(registry.policies)

TIERS = ("scaleup", "leaf", "spine", "core")
TIER_GROUPS = {"scaleout": ("leaf", "spine", "core"), "all": TIERS}


def policy_candidates(policy: str, *, field: str = "policy") -> tuple[str, ...]:
    policies = registry.policies()
    if policy in policies:
        return policies[policy]
    if policy in TECHNOLOGIES:
        return (policy,)
    raise CposimError(f"unknown link policy '{policy}' (policies: {', '.join(policies)}; "
                      f"or a technology: {', '.join(registry.names())})", field=field)


def parse_tier_policy(items) -> dict[str, str]:
    """``["scaleup=copper-first", "scaleout=cpo"]`` or a dict -> {tier: policy}, checked."""
    if items is None:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            if "=" not in item:
                raise CposimError(f"'{item}' is not TIER=POLICY", field="tier-policy")
            key, value = item.split("=", 1)
            pairs.append((key.strip(), value.strip()))
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in TIERS and key not in TIER_GROUPS:
            known = ", ".join(TIERS + tuple(TIER_GROUPS))
            raise CposimError(f"unknown tier '{key}' (tiers: {known})", field="tier-policy")
        policy_candidates(value, field=f"tier-policy {key}")
        for tier in TIER_GROUPS.get(key, (key,)):
            out[tier] = value
    return out


def policy_for_tier(tier: str, policy: str, tier_policy: dict[str, str]) -> str:
    return tier_policy.get(tier, policy)


def _phy():
    import sim.phy as phy  # imported late: the PHY layer is a separate package
    return phy


@lru_cache(maxsize=65536)
def _resolve(tech: str, lane_rate_bps: float, length_mm: int, params_key):
    return _phy().resolve_link(tech, lane_rate_bps, length_mm / 1000.0,
                               params=_PARAMS_BY_KEY.get(params_key))


_PARAMS_BY_KEY: dict = {}


def _params_key(params):
    key = None if params is None else id(params)
    if key is not None:
        _PARAMS_BY_KEY[key] = params
    return key


def resolve_cable(policy: str, tier: str, lane_rate_bps: float, length_m: float, params=None):
    """The first feasible technology of ``policy`` for one cable -> ``sim.phy.LinkResult``.

    Lengths are rounded to the millimetre so equal cables share one PHY evaluation.
    """
    key = _params_key(params)
    reasons = []
    for tech in policy_candidates(policy):
        result = _resolve(tech, float(lane_rate_bps), int(round(length_m * 1000)), key)
        if result.feasible:
            return result
        reasons.append(f"{tech}: {result.reason}")
    raise CposimError(f"no technology of policy '{policy}' reaches {length_m:.2f} m at "
                      f"{lane_rate_bps / 1e9:g} Gb/s per lane on a {tier} link ("
                      + "; ".join(reasons) + ")", field="policy")


# what a cable takes from its LinkResult, per distinct length (see resolve_lengths)
CABLE_FIELDS = ("tech", "lanes", "capacity_bps", "latency_s", "energy_pj_per_bit", "port_power_w",
                "port_total_power_w", "optical", "transceivers")
_DTYPES = {"tech": object, "lanes": np.int64, "optical": bool}


def _cable_values(r) -> tuple:
    return (r.tech, r.lanes, r.capacity_bps, r.latency_s, r.energy_pj_per_bit, r.port_power_w,
            getattr(r, "port_total_power_w", r.port_power_w), bool(r.optical),
            float(r.transceivers))


def _fibre_latency(r0, length_m: np.ndarray):
    """``latency_s`` of an optical link at each length, from its result at length 0: the sum of
    its breakdown in the PHY's own order with the propagation term first, so each value is the
    same float :func:`sim.phy.resolve_link` computes. ``None`` if the breakdown is not so."""
    items = list(r0.latency_breakdown_s.items())
    if not items or items[0][0] != "propagation" or items[0][1] != 0.0:
        return None
    lat = length_m * r0.spec.prop_delay_s_per_m
    for _, v in items[1:]:
        lat = lat + v
    return lat


def resolve_lengths(policy: str, lane_rate_bps: float, length_mm, params=None):
    """:func:`resolve_cable` for many lengths (integer millimetres) at once, without its error.

    Returns ``(values, ok)``: ``values[f]`` is an array of field ``f`` of ``CABLE_FIELDS`` per
    length, ``ok`` is False where no technology of the policy is feasible (the caller asks
    :func:`resolve_cable` for the error). Equal to calling :func:`resolve_cable` per length:

    * an optical technology's result does not depend on length except its propagation delay
      and reach, so it is resolved once (at 0 m) and checked against one real resolution at
      the longest length it serves;
    * copper is resolved per distinct length (its SerDes class and retimers step with loss),
      but only below its catalogue reach — beyond it copper is infeasible without a look.
    """
    key = _params_key(params)
    rate = float(lane_rate_bps)
    mm = np.asarray(length_mm, dtype=np.int64)
    n = mm.size
    length = mm / 1000.0
    values = {f: np.zeros(n, dtype=_DTYPES.get(f, np.float64)) for f in CABLE_FIELDS}
    todo = np.ones(n, dtype=bool)

    def fill(i, r) -> None:
        for f, v in zip(CABLE_FIELDS, _cable_values(r)):
            values[f][i] = v
        todo[i] = False

    for tech in policy_candidates(policy):
        if not todo.any():
            break
        r0 = _resolve(tech, rate, 0, key)
        spec = r0.spec
        if spec is None:
            idx = np.flatnonzero(todo)
        else:
            idx = np.flatnonzero(todo & ~(length > spec.max_reach_m))
        if idx.size == 0:
            continue
        if spec is not None and spec.optical:
            if not r0.feasible:
                continue          # the host electrical path fails: infeasible at every length
            lat = _fibre_latency(r0, length[idx])
            far = int(np.argmax(mm[idx]))
            r_far = _resolve(tech, rate, int(mm[idx[far]]), key)
            if (lat is not None and r_far.feasible and r_far.latency_s == lat[far]
                    and _cable_values(r_far)[:3] + _cable_values(r_far)[4:]
                    == _cable_values(r0)[:3] + _cable_values(r0)[4:]):
                for f, v in zip(CABLE_FIELDS, _cable_values(r0)):
                    values[f][idx] = v
                values["latency_s"][idx] = lat
                todo[idx] = False
                continue
        for i in idx.tolist():
            r = _resolve(tech, rate, int(mm[i]), key)
            if r.feasible:
                fill(i, r)
    return values, ~todo
