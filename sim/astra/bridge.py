"""The bridge: an ASTRA-sim workload (Chakra ETs) through cposim's *native* stack.

``cposim astra --cposim-fabric PRESET --policy P ...`` runs the same ``<prefix>.<i>.et`` files
as a cposim study (``sim.study``: textbook collectives from ``sim/comm``, cposim's runtime,
the physical fabric of ``PRESET`` with each link policy's technologies), so an ASTRA-sim user
sees iteration time, exposed communication, network power and energy per iteration for copper,
pluggable optics or CPO. These are **cposim's** semantics, not ASTRA-sim's: no endpoint
delay, no chunk queues, cposim's algorithm choice, max-min flows (``flow``) or alpha-beta
(``analytical``) on real link bandwidths and latencies.

The trace is read by ``workloads/readers/chakra.py`` (its semantics are unchanged here); where
its conventions differ from ASTRA-sim's, :func:`reader_notes` says so.
"""

from __future__ import annotations

from pathlib import Path

from sim.errors import CposimError

FIDELITIES = ("flow", "analytical")
DEFAULT_POLICIES = ("copper-first", "cpo")
SEMANTICS = ("cposim native semantics (textbook collectives on cposim's physical fabric and "
             "link technologies), not ASTRA-sim's")


def reader_notes(prefix: str) -> list[str]:
    """How cposim's Chakra reader reads this trace differently from ASTRA-sim."""
    from workloads.readers.chakra import decode_et_file

    ctypes, kinds, attrs = set(), set(), set()
    p = Path(f"{prefix}.0.et")
    if p.is_file():
        _meta, nodes = decode_et_file(p)
        for _line, n in nodes:
            kinds.add(n.get("type", 0))
            for a in n.get("attr", ()):
                attrs.add(a.get("name"))
                if a.get("name") == "comm_type":
                    ctypes.update(v for k, v in a.items() if k.endswith("_val"))
    notes = []
    if 2 in ctypes:
        notes.append("all-gather: cposim reads comm_size as the whole output buffer "
                     "(nccl-tests convention), ASTRA-sim as each NPU's input (output = n x "
                     "comm_size), so the native run moves 1/n of ASTRA-sim's bytes")
    if 5 in ctypes:
        notes.append("broadcast: cposim runs a real broadcast of comm_size bytes, ASTRA-sim "
                     "replays duration_micros as a delay")
    if 4 in kinds:
        notes.append("COMP_NODE: both replay duration_micros (ASTRA-sim: at least 1 ns); "
                     "is_cpu_op nodes are not a separate resource in cposim")
    if "involved_dim" in attrs:
        notes.append("involved_dim is recorded but not modelled by cposim")
    if "pg_name" in attrs:
        notes.append("pg_name: cposim builds each group from the ranks whose trace uses it "
                     "(ASTRA-sim needs --comm-group-configuration)")
    notes.append("ASTRA-sim's chunking (preferred-dataset-splits), queues and endpoint delay "
                 "do not apply: cposim chooses its own algorithm per collective")
    return notes


def run_bridge(prefix: str, preset: str, policies: list[str] | None = None,
               fidelity: str = "flow", name: str = "astra-bridge") -> dict:
    """Run the ETs as a cposim study: one iteration per policy on ``preset``."""
    import pydantic

    from sim.config import validation_error
    from sim.study import StudyConfig, run_study

    if fidelity not in FIDELITIES:
        raise CposimError(f"unknown fidelity {fidelity!r}; choose from {', '.join(FIDELITIES)}",
                          field="--fidelity")
    pols = list(policies or DEFAULT_POLICIES)
    raw = {"name": name, "policies": pols, "fidelity": fidelity,
           "workload": {"trace": str(prefix)}, "topology": {"preset": preset},
           "timeline": False}
    try:
        cfg = StudyConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise validation_error(exc, "--cposim-fabric") from None
    try:
        res = run_study(cfg, str(prefix))
    except CposimError as exc:
        if exc.file is not None:
            raise
        field = {"topology": "--cposim-fabric", "policy": "--policy"}.get(exc.field or "",
                                                                          exc.field)
        raise CposimError(exc.message, file=str(prefix), field=field) from None
    comp = res.comparison()
    rows = []
    for _, r in comp.iterrows():
        rows.append({k: (r[k] if isinstance(r[k], str) else float(r[k])) for k in (
            "policy", "iteration_s", "compute_s", "exposed_comm_s", "network_power_w",
            "network_energy_j", "effective_pj_per_bit", "optical_transceivers",
            "speedup_vs_first") if k in r})
    return {"semantics": SEMANTICS, "workload": str(prefix), "preset": preset,
            "fidelity": fidelity, "gpus": int(comp["gpus"].iloc[0]), "policies": rows,
            "notes": reader_notes(str(prefix))}


def format_bridge(out: dict) -> str:
    from sim.units import format_si

    head = ("policy", "iteration", "exposed comm", "net power", "net energy/iter")
    rows = [(r["policy"], format_si(r["iteration_s"], "s", 4),
             format_si(r["exposed_comm_s"], "s", 4), format_si(r["network_power_w"], "W", 4),
             format_si(r["network_energy_j"], "J", 4)) for r in out["policies"]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = [f"{out['workload']} on {out['gpus']} GPUs, {out['preset']}, fidelity "
             f"{out['fidelity']}: {out['semantics']}",
             "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    lines += [f"note: {n}" for n in out["notes"]]
    return "\n".join(lines)
