"""Link policy: which technology each cable gets, from its tier and its length.

A policy is an ordered list of technologies; a cable gets the first one that
``sim.phy.resolve_link`` calls feasible at its lane rate and length. ``copper-first`` is
Jensen Huang's "copper where possible, optical where necessary" (reference §1c): passive
copper, then active copper (retimed AEC), then DSP pluggable optics. A bare technology name
is also a policy (that technology only). Per-tier overrides (``tier_policy``) map a tier —
``scaleup``, ``leaf``, ``spine``, ``core`` — or the group ``scaleout`` (leaf+spine+core) to a
policy, e.g. ``{"scaleup": "copper-first", "scaleout": "cpo"}``.
"""

from __future__ import annotations

from functools import lru_cache

from sim.errors import CposimError

TECHNOLOGIES = ("copper-dac", "copper-aec", "pluggable-dsp", "lpo", "cpo", "optical-io")

POLICIES: dict[str, tuple[str, ...]] = {
    "copper-first": ("copper-dac", "copper-aec", "pluggable-dsp"),
    "copper-lpo": ("copper-dac", "copper-aec", "lpo", "pluggable-dsp"),
    "copper-cpo": ("copper-dac", "copper-aec", "cpo"),
    "pluggable": ("pluggable-dsp",),
    "lpo": ("lpo", "pluggable-dsp"),   # LPO's host-driven reach is ~500 m; DSP beyond
    "cpo": ("cpo",),
    "optical-io": ("optical-io", "cpo"),
}

TIERS = ("scaleup", "leaf", "spine", "core")
TIER_GROUPS = {"scaleout": ("leaf", "spine", "core"), "all": TIERS}


def policy_candidates(policy: str, *, field: str = "policy") -> tuple[str, ...]:
    if policy in POLICIES:
        return POLICIES[policy]
    if policy in TECHNOLOGIES:
        return (policy,)
    raise CposimError(f"unknown link policy '{policy}' (policies: {', '.join(POLICIES)}; "
                      f"or a technology: {', '.join(TECHNOLOGIES)})", field=field)


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


def resolve_cable(policy: str, tier: str, lane_rate_bps: float, length_m: float, params=None):
    """The first feasible technology of ``policy`` for one cable -> ``sim.phy.LinkResult``.

    Lengths are rounded to the millimetre so equal cables share one PHY evaluation.
    """
    key = None if params is None else id(params)
    if key is not None:
        _PARAMS_BY_KEY[key] = params
    reasons = []
    for tech in policy_candidates(policy):
        result = _resolve(tech, float(lane_rate_bps), int(round(length_m * 1000)), key)
        if result.feasible:
            return result
        reasons.append(f"{tech}: {result.reason}")
    raise CposimError(f"no technology of policy '{policy}' reaches {length_m:.2f} m at "
                      f"{lane_rate_bps / 1e9:g} Gb/s per lane on a {tier} link ("
                      + "; ".join(reasons) + ")", field="policy")
