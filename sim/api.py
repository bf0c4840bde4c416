"""cposim's Python API: every ``cposim`` command's result as a Python object.

For experiment scripts and notebooks; the names are also on the package (``import sim;
sim.link(...)``) and load on first use, so ``import sim`` stays light. The commands link,
topology info, collective, trace, run and sweep are thin layers over these functions, so the
numbers are the same. Quantities take the unit
strings the CLI takes (``"800G"``, ``"1GiB"``, ``"30 m"``, ``"500ns"``) or plain numbers in
SI units (bit/s, bytes, metres, seconds); bad input raises :class:`sim.CposimError` naming
the field (``exc.field``), never a bare traceback.

Functions (and the command whose result each returns):

- :func:`link` -- ``cposim link``: one link's loss, SerDes class, energy, latency
- :func:`topology` -- ``cposim topology info``: a cluster with ``.summary()`` and tables
- :func:`collective` -- ``cposim collective``: one collective's time, busbw, energy
- :func:`load_trace`, :func:`trace_info`, :func:`save_trace`, :func:`generate_trace` --
  ``cposim trace info|convert|generate``
- :func:`run_study` -- ``cposim run``: a study, with its comparison, tables and picture
- :func:`run_sweep` -- ``cposim sweep``: a parameter study as one tidy DataFrame
- :func:`run_astra` -- ``cposim astra``: ASTRA-sim 2.x inputs, ASTRA-sim's semantics or the bridge
- ``sim.run_figure`` / ``sim.run_bench`` (from :mod:`experiments`) -- ``cposim figures`` /
  ``cposim bench``

Below them, for the CLI and for finer control: :func:`study_config` (a study validated),
:func:`plan_sweep`, :func:`check_sweep` and :func:`execute_sweep` (a sweep in steps).

A quick tour (each example in this module runs under the test suite)::

    >>> import sim
    >>> sim.link("cpo", "200G", "30 m").feasible
    True
    >>> sim.collective("allreduce", "ring", 8, "1MiB").algorithm
    'ring'
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import CposimError
from sim.phy.link import LinkResult
from sim.units import (parse_bandwidth_Bps, parse_bytes, parse_length_m, parse_rate_bps,
                       parse_time_s)

if TYPE_CHECKING:
    import pandas as pd

    from sim.comm.accounting import CollectiveResult
    from sim.fabric.topology import Topology
    from sim.phy.parameters import Parameters
    from sim.study import ProgressBars, StudyConfig, StudyResult
    from sim.sweep.grid import Point
    from workloads.trace import Trace

__all__ = ["AstraRun", "CollectiveRun", "Link", "StudyResult", "collective", "generate_trace",
           "link",
           "load_trace", "run_astra", "run_study", "run_sweep", "save_trace", "topology",
           "trace_info"]

# the idealised topology of `collective`: GPUs on one non-blocking switch
SWITCH = "switch"
# the default sweep task: one study per point (columns <policy>.<metric>)
STUDY_TASK = "sim.study:sweep_point"
PIPELINES = ("schedule", "simai")


def __getattr__(name: str) -> Any:
    if name == "StudyResult":   # the study layer pulls in pandas: load it on first use
        from sim.study import StudyResult

        return StudyResult
    raise AttributeError(f"module 'sim.api' has no attribute {name!r}")


def _is_count(x: Any) -> bool:
    """An integer (numpy's too), not a bool."""
    import numbers

    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


# ---------------------------------------------------------------------------- link
def _check_params(params: Any) -> None:
    if params is not None and not isinstance(params, Mapping):
        raise CposimError(f"PHY overrides are a dict of key: value, not {params!r}",
                          field="params")


class Link(LinkResult):
    """One resolved link (a :class:`sim.phy.LinkResult`): ``.to_dict()`` is what
    ``cposim link --json`` prints, ``.to_row()`` its scalars (one DataFrame row),
    ``.to_frame()`` that row as a one-row DataFrame.

    >>> import sim
    >>> row = sim.link("copper-dac", "200G", "1.5 m").to_row()
    >>> row["tech"], row["retimers"]
    ('copper-dac', 0)
    """

    @classmethod
    def of(cls, result: LinkResult) -> Link:
        """The same link as a :class:`Link` (``result`` itself is left untouched)."""
        return cls(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)})

    def to_row(self) -> dict[str, Any]:
        """The scalar entries of :meth:`to_dict` (no breakdowns, sources or lists)."""
        return {k: v for k, v in self.to_dict().items() if not isinstance(v, (dict, list))}

    def to_frame(self) -> pd.DataFrame:
        """:meth:`to_row` as a one-row DataFrame (``pd.concat`` several for a table)."""
        import pandas as pd

        return pd.DataFrame([self.to_row()])


def link(tech: str, lane_rate: str | float, length: str | float, *,
         params: Parameters | Mapping[str, Any] | None = None) -> Link:
    """One link -> insertion loss, SerDes class, retimers, feasibility, energy per bit, port
    power, one-way latency and the source of every default (``cposim link``).

    ``tech``: a technology (``sim.phy.technologies()``: copper-dac, copper-aec,
    pluggable-dsp, lpo, cpo, ...). ``lane_rate``: e.g. ``"200G"`` or bit/s. ``length``:
    e.g. ``"1.5 m"``, ``"30 cm"`` or metres. ``params``: overrides of
    ``sim/phy/parameters.csv`` (``{"tech.cpo.200g.laser_w": "3 W"}``) or a
    :class:`sim.phy.Parameters`. A length beyond reach is an answer (``feasible`` False,
    with a ``reason``), not an error.

    >>> import sim
    >>> r = sim.link("cpo", "200G", "30 m")
    >>> r.feasible, r.serdes_class, r.lanes, r.port_power_w
    (True, 'xsr', 8, 9.0)
    >>> r.to_dict()["capacity_bps"]
    1600000000000.0
    >>> sim.link("copper-dac", "200G", "5 m").reason
    '5 m exceeds the catalogue reach limit of 2 m for copper-dac at 200G/lane'
    >>> sim.link("cpo", "200G", "-1 m")
    Traceback (most recent call last):
    sim.errors.CposimError: field 'length': '-1 m' is negative
    """
    from sim.phy import Parameters, load_parameters, resolve_link, technologies

    _check_params(params)
    resolved = params if isinstance(params, Parameters) else load_parameters(dict(params or {}))
    if tech not in technologies():
        raise CposimError(f"unknown technology {tech!r}; choose from "
                          f"{', '.join(technologies())}", field="tech")
    for name, value, parse in (("length", length, parse_length_m),
                               ("lane_rate", lane_rate, parse_rate_bps)):
        text = value.strip() if isinstance(value, str) else ""
        if text.startswith("-"):    # "-1m", "-inf m": say negative, not "cannot read"
            try:
                parse(text[1:], field=name)
            except CposimError:
                pass  # not a quantity with the sign removed either: the parse below says so
            else:
                raise CposimError(f"{value!r} is negative", field=name)
    length_m = parse_length_m(length, field="length")
    rate = parse_rate_bps(lane_rate, field="lane_rate")
    try:
        result = resolve_link(tech, rate, length_m, params=resolved)
    except CposimError as exc:
        if exc.field == "lane_rate":   # name the value as it was given
            raise CposimError(f"{lane_rate!r}: {exc.message}", field="lane_rate") from None
        raise
    return Link.of(result)


# ---------------------------------------------------------------------------- topology
def topology(preset: str | Path | Mapping[str, Any] = "dgx-h100-superpod", /,
             gpus: int | None = None, *, policy: str | None = None,
             tier_policy: Mapping[str, str] | Sequence[str] | None = None,
             lane_rate: str | float | None = None,
             params: Parameters | Mapping[str, Any] | None = None,
             **options: Any) -> Topology:
    """A cluster: a preset (``sim.fabric.PRESETS``), a ``.toml``/``.json`` topology file or a
    spec dict, built with ``gpus`` GPUs and link technologies chosen by ``policy``
    (copper-first by default for presets; pluggable, lpo, cpo, ... or one technology) and
    ``tier_policy`` (``{"scaleout": "cpo"}`` or ``["scaleout=cpo"]``). ``lane_rate`` sets
    every tier's lane rate; ``params`` overrides PHY defaults; ``options`` are the builder's
    parameters (``oversubscription=4``, ``tiers=3``; ``cposim topology info --set``).

    Returns a :class:`sim.fabric.Topology`: ``.summary()`` is ``cposim topology info
    --json``; ``.links_frame()`` and ``.nodes_frame()`` are its tables.

    >>> import sim
    >>> topo = sim.topology("dgx-h100-superpod", 64, tier_policy={"scaleout": "cpo"})
    >>> s = topo.summary()
    >>> s["gpus"], s["scaleup_size"], s["links_by_tier_tech"]["leaf"]
    (64, 8, {'cpo': 64})
    >>> len(topo.links_frame()) == topo.n_links
    True
    """
    from sim.fabric.presets import build_topology

    _check_params(params)
    if gpus is not None and (not _is_count(gpus) or gpus < 1):
        raise CposimError(f"must be an integer >= 1, got {gpus!r}", field="gpus")
    rate = None if lane_rate is None else parse_rate_bps(lane_rate, field="lane_rate")
    if isinstance(tier_policy, Mapping):
        tier_policy = dict(tier_policy)
    elif tier_policy is not None:
        tier_policy = [tier_policy] if isinstance(tier_policy, str) else list(tier_policy)
    spec = dict(preset) if isinstance(preset, Mapping) else preset
    return build_topology(spec, gpus=gpus, policy=policy, tier_policy=tier_policy,
                          lane_rate_bps=rate, params=params, **options)


# ---------------------------------------------------------------------------- collective
@dataclass(frozen=True)
class CollectiveRun:
    """One collective's outcome (``cposim collective``): the main figures as attributes,
    ``.to_dict()`` the JSON object ``cposim collective --json`` prints, ``.result`` the
    communication layer's record (link bytes, energy by technology, phases), ``.nccl`` (with
    ``nccl=True``) NCCL's algorithm, protocol, time, algbw and busbw on the same fabric."""

    op: str
    algorithm: str
    gpus: int
    size_bytes: float
    fidelity: str
    time_s: float
    algbw_Bps: float                     # noqa: N815 - bytes (not bits) per second
    busbw_Bps: float                     # noqa: N815
    energy_j: float
    closed_form_time_s: float
    wall_s: float
    record: dict[str, Any] = dataclasses.field(repr=False, compare=False)
    result: CollectiveResult | None = dataclasses.field(default=None, repr=False,
                                                        compare=False)
    nccl: dict[str, Any] | None = None   # the NCCL software layer (``nccl=True``)

    def to_dict(self) -> dict[str, Any]:
        """What ``cposim collective --json`` prints (a copy)."""
        return copy.deepcopy(self.record)

    def to_row(self) -> dict[str, Any]:
        """The scalar entries of :meth:`to_dict` (one DataFrame row)."""
        return {k: v for k, v in self.record.items() if not isinstance(v, (dict, list))}

    def to_frame(self) -> pd.DataFrame:
        """:meth:`to_row` as a one-row DataFrame."""
        import pandas as pd

        return pd.DataFrame([self.to_row()])


def _collective_topology(topology: Any, gpus: int | None, policy: str | None,
                         tier_policy: Any, link_bandwidth: Any, link_latency: Any,
                         switch_latency: Any) -> tuple[Any, dict[str, Any]]:
    from sim.fabric import build_topology, single_switch

    if gpus is not None and (not _is_count(gpus) or gpus < 1):
        raise CposimError(f"must be >= 1, got {gpus}", field="gpus")
    switch_only = (("link_bandwidth", link_bandwidth), ("link_latency", link_latency),
                   ("switch_latency", switch_latency))
    if isinstance(topology, str) and topology == SWITCH:
        if policy is not None or tier_policy:
            raise CposimError("a link policy needs a preset topology; the switch topology has "
                              "idealised links", field="policy")
        bw = parse_bandwidth_Bps("50GB/s" if link_bandwidth is None else link_bandwidth,
                                 field="link_bandwidth")
        lat = parse_time_s("500ns" if link_latency is None else link_latency,
                           field="link_latency")
        sw = parse_time_s("0s" if switch_latency is None else switch_latency,
                          field="switch_latency")
        n = 8 if gpus is None else gpus
        desc = {"topology": SWITCH, "link_bandwidth_Bps": bw, "link_latency_s": lat,
                "switch_latency_s": sw}
        return single_switch(n, link_bandwidth_bps=8 * bw, link_latency_s=lat,
                             switch_latency_s=sw), desc
    for name, value in switch_only:
        if value is not None:
            raise CposimError("only applies to the switch topology; preset links come from the "
                              "PHY model", field=name)
    if not isinstance(topology, (str, Path, Mapping)):     # a built Topology
        if policy is not None or tier_policy:
            raise CposimError("a built topology has its links already; give a preset name to "
                              "choose a policy", field="policy")
        if gpus is not None and gpus != topology.n_gpus:
            raise CposimError(f"{gpus} GPUs, but the topology has {topology.n_gpus}",
                              field="gpus")
        return topology, {"topology": topology.name, "policy": topology.policy,
                          "tier_policy": dict(topology.tier_policy)}
    policy = policy or "copper-first"
    topo = build_topology(dict(topology) if isinstance(topology, Mapping) else topology,
                          gpus=gpus, policy=policy, tier_policy=tier_policy)
    name = topology if isinstance(topology, str) else str(topology) \
        if isinstance(topology, Path) else topo.name
    return topo, {"topology": name, "policy": policy, "tier_policy": tier_policy or {}}


def collective(op: str, algo: str = "auto", gpus: int | None = None,
               size: str | float | None = None, *, topology: str | Path | Topology = SWITCH,
               fidelity: str = "flow", link_bandwidth: str | float | None = None,
               link_latency: str | float | None = None,
               switch_latency: str | float | None = None, policy: str | None = None,
               tier_policy: Mapping[str, str] | Sequence[str] | None = None, chunks: int = 1,
               root: int = 0, intra: str = "ring", inter: str = "ring",
               routing: str = "pxn", seed: int = 0, nccl: bool = False,
               gpu: str | None = None, nccl_algo: str | None = None) -> CollectiveRun:
    """One collective on all GPUs of a topology -> time, algbw/busbw (nccl-tests
    definitions), bytes and energy per link technology (``cposim collective``).

    ``op``: allreduce, allgather, reducescatter, alltoall, broadcast, reduce. ``algo``: a
    registered algorithm (ring, tree, hd, direct, pat, hierarchical, ...) or auto. ``size``:
    the buffer, nccl-tests convention (``"1MiB"`` or bytes). ``topology``: ``"switch"`` (GPUs
    on one idealised switch: ``link_bandwidth`` default 50GB/s, ``link_latency`` 500ns,
    ``switch_latency`` 0), a preset name or topology file (links from the PHY model under
    ``policy``/``tier_policy``), or a topology from :func:`topology`. ``gpus``: default 8 on
    the switch, the preset's size otherwise. ``fidelity``: flow, packet or analytical.

    The time above is the engine's: the wire, no collective library. ``nccl=True`` adds
    (``.nccl``, JSON ``"nccl"``) what NCCL's own cost model (:mod:`sim.comm.nccl`, the layer
    ``cposim figures validation`` checks against published nccl-tests tables) says for the
    same collective on this fabric's bandwidths: the algorithm and protocol it picks, its time,
    algbw and busbw. ``gpu``: a100, h100 (default), h200 or b200 (NCCL's NVLink rate, NVLS);
    ``nccl_algo``: default (NCCL's choice), ring, nvls or nvlstree, as ``NCCL_ALGO`` forces it.
    Covers allreduce, allgather, reducescatter and alltoall (as NCCL's point-to-point sends).

    >>> import sim
    >>> r = sim.collective("allreduce", "ring", 8, "1MiB", link_bandwidth="50GB/s")
    >>> r.gpus, r.algorithm, round(r.busbw_Bps / r.algbw_Bps, 3)
    (8, 'ring', 1.75)
    >>> r.time_s == r.to_dict()["time_s"]
    True
    >>> sim.collective("allreduce", size="1MiB", gpus=0)
    Traceback (most recent call last):
    sim.errors.CposimError: field 'gpus': must be >= 1, got 0
    >>> r = sim.collective("allreduce", size="1GiB", topology="dgx-h100-superpod", gpus=8,
    ...                    nccl=True, gpu="h100")
    >>> r.nccl["algorithm"], r.nccl["protocol"], round(r.nccl["busbw_Bps"] / 1e9)
    ('nvls', 'Simple', 505)
    """
    import time

    import numpy as np
    import simpy

    from sim.comm import (Communicator, analytical_time, normalise_algorithm, normalise_op,
                          plan_collective, run_collective)
    from sim.fabric import FIDELITIES, make_fabric

    op = normalise_op(op, field="op")
    algo = normalise_algorithm(algo, field="algo")
    if size is None:
        raise CposimError("give the buffer size, e.g. '1MiB'", field="size")
    size_bytes = parse_bytes(size, field="size")
    if fidelity not in FIDELITIES:
        raise CposimError(f"unknown fidelity {fidelity!r}; choose from "
                          f"{', '.join(FIDELITIES)}", field="fidelity")
    if not _is_count(chunks) or chunks < 1:
        raise CposimError(f"must be >= 1, got {chunks}", field="chunks")
    nccl_gpu, nccl_alg = _nccl_options(op, nccl, gpu, nccl_algo)
    topo, desc = _collective_topology(topology, gpus, policy, tier_policy, link_bandwidth,
                                      link_latency, switch_latency)
    n = topo.n_gpus
    if not 0 <= root < n:
        raise CposimError(f"{root} is not a rank of {n} GPUs", field="root")
    t0 = time.perf_counter()
    env = simpy.Environment()
    fabric = make_fabric(env, topo, fidelity=fidelity, routing=routing, seed=seed)
    comm = Communicator("world", np.arange(n), np.arange(n))
    ev = run_collective(env, fabric, comm, op, size_bytes, algorithm=algo, chunks=chunks,
                        root=root, intra=intra, inter=inter)
    env.run()
    r: CollectiveResult = ev.value  # type: ignore[assignment]  # simpy: Optional[Any]
    wall = time.perf_counter() - t0
    # the closed form from the periodic (one-step) schedule where the algorithm has one: the
    # full ring schedule is O(n^2) rows (gigabytes at 16k GPUs)
    plan = plan_collective(fabric, comm, op, size_bytes, algorithm=algo, chunks=chunks,
                           root=root, intra=intra, inter=inter, periodic=True)
    t_cf = analytical_time(fabric, plan)
    techs = sorted(r.link_bytes_by_tech)
    record = {
        "op": op, "algorithm": r.algorithm, "gpus": n, "size_bytes": size_bytes,
        "chunks": chunks, "fidelity": r.fidelity, **desc,
        "time_s": r.time_s, "algbw_Bps": r.algbw_Bps, "busbw_Bps": r.busbw_Bps,
        "busbw_factor": r.busbw_Bps / r.algbw_Bps if r.algbw_Bps else None,
        "energy_j": r.energy_j, "energy_pj_per_bit": (r.energy_j / (8 * r.bytes_on_wire) * 1e12
                                                      if r.bytes_on_wire else 0.0),
        "bytes_on_wire": r.bytes_on_wire, "link_bytes": r.link_bytes,
        "per_technology": [{"tech": t, "link_bytes": r.link_bytes_by_tech[t],
                            "energy_j": r.energy_by_tech.get(t, 0.0)} for t in techs],
        "closed_form_time_s": t_cf, "steps": r.n_steps, "waves": r.n_waves,
        "phases": list(r.phases), "wall_s": wall,
    }
    layer = None
    if nccl:
        layer = _nccl_layer(fabric, n, op, size_bytes, nccl_gpu, nccl_alg)
        record["nccl"] = copy.deepcopy(layer)
    return CollectiveRun(op=op, algorithm=r.algorithm, gpus=n, size_bytes=size_bytes,
                         fidelity=r.fidelity, time_s=r.time_s, algbw_Bps=r.algbw_Bps,
                         busbw_Bps=r.busbw_Bps, energy_j=r.energy_j, closed_form_time_s=t_cf,
                         wall_s=wall, record=record, result=r, nccl=layer)


def _nccl_options(op: str, nccl: bool, gpu: str | None,
                  nccl_algo: str | None) -> tuple[str, str]:
    """The NCCL layer's GPU and algorithm, checked before anything runs."""
    from sim.comm import nccl as layer

    if not nccl:
        for name, value in (("gpu", gpu), ("nccl_algo", nccl_algo)):
            if value is not None:
                raise CposimError("only applies with the NCCL layer (nccl=True, --nccl)",
                                  field=name)
        return "", ""
    g = "h100" if gpu is None else str(gpu).lower()
    if g not in layer.GPUS:
        raise CposimError(f"unknown GPU {gpu!r} for the NCCL layer; choose from "
                          f"{', '.join(layer.GPUS)}", field="gpu")
    alg = "default" if nccl_algo is None else str(nccl_algo).lower()
    if alg not in layer.ALGORITHMS or alg == "p2p":
        raise CposimError(f"unknown NCCL algorithm {nccl_algo!r}; choose from default, ring, "
                          "nvls, nvlstree", field="nccl_algo")
    if op not in layer.OPS:
        raise CposimError(f"the NCCL layer covers {', '.join(layer.OPS)}, not {op}",
                          field="op")
    return g, alg


def _nccl_layer(fabric: Any, n: int, op: str, size_bytes: float, gpu: str,
                algorithm: str) -> dict[str, Any]:
    """NCCL's choice and cost for ``op`` on all ``n`` GPUs of ``fabric`` (its bandwidths)."""
    import numpy as np

    from sim.comm import nccl as layer

    intra, inter, nodes = layer.fabric_bandwidths(fabric, np.arange(n))
    arch = layer.arch_of(gpu)
    nvls_latency = layer.stored_nvls_latency_s()
    try:
        c = layer.choose(op, size_bytes, n, nodes, intra, inter, arch, algorithm=algorithm,
                         nvls_latency_s=nvls_latency)
    except CposimError as exc:
        if exc.field != "algorithm":
            raise
        raise CposimError(exc.message, field="nccl_algo") from None
    return {"gpu": gpu, "arch": arch, "nccl_algo": algorithm, "algorithm": c.algorithm,
            "protocol": c.protocol, "time_s": c.time_s, "latency_s": c.latency_s,
            "algbw_Bps": c.algbw_Bps, "busbw_Bps": c.busbw_Bps, "nodes": nodes,
            "scaleup_Bps": intra, "nic_Bps": inter, "nvls_latency_s": nvls_latency,
            "source": layer.NCCL_SOURCE}


# ---------------------------------------------------------------------------- traces
def load_trace(path: str | Path, *, format: str | None = None,  # noqa: A002 - read_trace's
               world_size: int | None = None, **reader_options: Any) -> Trace:
    """Read a workload trace: ASTRA-sim 1.0 / SimAI text, Chakra ``.et`` (a prefix or one rank
    file) or JSON, cposim JSON; the format is detected unless given. Text workloads take
    ``world_size`` and the reader options ``dims`` (``[2, 4]``), ``micro``
    (training | collective-only), ``update`` (metadata | op) and ``pipeline`` (schedule |
    simai), as ``cposim trace info`` does. Returns a :class:`workloads.trace.Trace`.

    >>> import sim, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "micro.txt"
    >>> _ = p.write_text("MICRO\\n1\\nconv1 -1 5 NONE 0 5 NONE 0 5 ALLREDUCE 1048576 5\\n")
    >>> t = sim.load_trace(p, world_size=4)
    >>> t.world_size, t.metadata["format"]
    (4, 'astra-sim-1.0')
    """
    from workloads.io import read_trace

    return read_trace(path, format=format, world_size=world_size, **reader_options)


def save_trace(trace: Trace, path: str | Path, *,
               format: str | None = None) -> list[Path]:  # noqa: A002
    """Write ``trace`` as cposim JSON (``*.cposim.json``), Chakra protobuf (``*.et``: one
    ``<prefix>.<rank>.et`` per rank) or Chakra JSON (``*.chakra.json``), from the extension
    unless ``format`` is given (``cposim trace convert``). Returns the files written.

    >>> import sim, tempfile, pathlib
    >>> t = sim.generate_trace("llama3-8b", 16, tp=8, pp=2, global_batch=4)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "llama.cposim.json"
    >>> [p.name for p in sim.save_trace(t, out)]
    ['llama.cposim.json']
    >>> sim.load_trace(out).world_size
    16
    """
    from workloads.io import write_trace

    return write_trace(trace, path, format=format)


def generate_trace(model: str, gpus: int, *, tp: int = 1, pp: int = 1,
                   **options: Any) -> Trace:
    """One training iteration of an LLM from the model zoo (``workloads.generator.MODELS``:
    gpt3-175b, llama3-8b, llama3-70b, ...) on ``gpus`` GPUs with Megatron-style parallelism
    (``cposim trace generate``). ``options`` are the generator's: ``dp``, ``ep``, ``vpp``,
    ``sp``, ``zero``, ``micro_batch``, ``global_batch``, ``seq_len``, ``gpu`` (h100, b200,
    ...), ``fraction``, ``schedule``, ``recompute``, ``bucket_size_params``,
    ``overlap_param_gather``.

    >>> import sim
    >>> t = sim.generate_trace("llama3-8b", 16, tp=8, pp=2, global_batch=4)
    >>> t.world_size, t.metadata["parallelism"]["dp"], t.metadata["parallelism"]["micro_batches"]
    (16, 1, 4)
    >>> sim.generate_trace("llama3-8b", 16, tp=8, globl_batch=4)
    Traceback (most recent call last):
    sim.errors.CposimError: field 'globl_batch': unknown generator option
    """
    from workloads.generator import generate

    known = inspect.signature(generate).parameters
    for key in options:
        if key not in known or key in ("model", "gpus"):
            raise CposimError("unknown generator option", field=key)
    trace: Trace = generate(model, gpus=gpus, tp=tp, pp=pp, **options)
    return trace


def _ranks_text(ranks: Any) -> str:
    r = sorted(int(x) for x in ranks)
    if not r:
        return ""
    parts, start, prev = [], r[0], r[0]
    for x in [*r[1:], None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    return ",".join(parts)


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def trace_info(trace: Trace | str | Path, *, path: str | None = None,
               **reader_options: Any) -> dict[str, Any]:
    """Facts about a trace, JSON-ready: what ``cposim trace info --json`` prints. ``trace``:
    a :class:`~workloads.trace.Trace` or a file (read with ``reader_options``, as
    :func:`load_trace`). Per-rank figures (ops, bytes, compute) are what one rank runs,
    averaged over all ranks; ``total_*`` sum over all ranks. ``path`` fills ``"file"``.

    >>> import sim
    >>> info = sim.trace_info(sim.generate_trace("llama3-8b", 16, tp=8, pp=2, global_batch=4))
    >>> info["world_size"], info["format"], sorted(info["groups"])
    (16, 'cposim-generator', ['dp', 'pp', 'tp', 'world'])
    """
    from collections import Counter, defaultdict

    if isinstance(trace, (str, Path)):
        path = str(trace) if path is None else path
        trace = load_trace(trace, **reader_options)
    elif reader_options:
        raise CposimError("reader options apply when reading a file",
                          field=sorted(reader_options)[0])
    world = trace.world_size
    ops_by_kind: Counter[str] = Counter()
    coll_per_rank: dict[Any, float] = defaultdict(float)
    group_per_rank: dict[Any, float] = defaultdict(float)
    coll_total: dict[Any, float] = defaultdict(float)
    p2p_per_rank: dict[Any, float] = defaultdict(float)
    coll_count: Counter[Any] = Counter()
    compute_s = 0.0
    flops = 0.0
    layers: set[Any] = set()
    programs = []
    for prog in trace.programs:
        n = len(prog.ranks)
        kinds = Counter(op.kind for op in prog.ops)
        for k, v in kinds.items():
            ops_by_kind[k] += n * v
        programs.append({"name": prog.name, "ranks": _ranks_text(prog.ranks), "n_ranks": n,
                         "ops": len(prog.ops)})
        for op in prog.ops:
            if op.layer is not None:
                layers.add(op.layer)
            if op.kind == "compute":
                compute_s += n * (op.duration_s or 0.0) / world
                flops += n * (op.flops or 0.0) / world
            elif op.kind == "collective":
                coll_per_rank[op.collective] += n * op.size_bytes / world
                group_per_rank[op.group] += n * op.size_bytes / world
                coll_total[op.collective] += n * op.size_bytes
                coll_count[op.collective] += n
            else:
                p2p_per_rank[op.kind] += n * op.size_bytes / world
                if op.group:
                    group_per_rank[op.group] += n * op.size_bytes / world
    md = trace.metadata
    return {
        "file": path or "",
        "format": md.get("format"),
        "world_size": world,
        "ranks": _ranks_text(r for p in trace.programs for r in p.ranks),
        "programs": len(trace.programs),
        "program_list": programs,
        "layers": md.get("layers", len(layers)),
        "ops_by_kind": {k: _num(v / world) for k, v in sorted(ops_by_kind.items())},
        "ops_total": sum(ops_by_kind.values()),
        "collectives_by_type": {k: _num(v / world) for k, v in sorted(coll_count.items())},
        "bytes_by_collective": dict(sorted(coll_per_rank.items())),
        "bytes_by_group": dict(sorted(group_per_rank.items())),
        "p2p_bytes": dict(sorted(p2p_per_rank.items())),
        "total_bytes_by_collective": dict(sorted(coll_total.items())),
        "compute_s_per_rank": compute_s,
        "flops_per_rank": flops,
        "parallelism": md.get("parallelism"),
        "header": md.get("header", {}),
        "groups": {n: {"size": g.size, "communicators": int(g.members.shape[0])}
                   for n, g in trace.groups.items()},
        "pipeline": md.get("pipeline"),
        "assumptions": md.get("assumptions", []),
        "notes": md.get("notes", []),
    }


# ---------------------------------------------------------------------------- study
DEFAULT_SOURCE = "<built-in default study>"


def study_config(config: StudyConfig | Mapping[str, Any] | str | Path | None = None
                 ) -> tuple[StudyConfig, str]:
    """``config`` (a study TOML file, a dict of the same tables, a :class:`StudyConfig` or
    ``None`` for the built-in default study) validated, with the name errors give it."""
    import pydantic

    from sim.config import validation_error
    from sim.study import StudyConfig, load_study

    if config is None or isinstance(config, (str, Path)):
        return load_study(config), DEFAULT_SOURCE if config is None else str(config)
    if isinstance(config, StudyConfig):
        return config, "<study>"
    if not isinstance(config, Mapping):
        raise CposimError(f"a study is a dict or the path of a TOML file, not "
                          f"{type(config).__name__}", field="config")
    try:
        return StudyConfig.model_validate(dict(config)), "<study>"
    except pydantic.ValidationError as exc:
        raise validation_error(exc, "<study>") from None


def run_study(config: StudyConfig | Mapping[str, Any] | str | Path | None = None, *,
              timeline: bool | None = None, pipeline: str | None = None,
              progress: ProgressBars | bool = False) -> StudyResult:
    """A study (``cposim run``): one training iteration of a workload on a cluster, once per
    link policy. ``config``: the path of a study TOML (see ``examples/``), a dict of the same
    tables (``name``, ``policies``, ``fidelity``, ``workload``, ``topology``, ...) or ``None``
    for the built-in default study (GPT-3 175B on 1,024 GPUs, some seconds). ``timeline``:
    keep the Perfetto timeline (default: the config's, true); ``pipeline``: SimAI workloads
    with pp > 1, ``"schedule"`` or ``"simai"``; ``progress``: bars on stderr.

    Returns a :class:`sim.study.StudyResult`: ``.comparison()`` (one row per policy, what
    ``cposim run`` prints), ``.ops``, ``.classes``, ``.links``, ``.energy`` (DataFrames with
    a ``policy`` column), ``.plot()`` (the study picture, a matplotlib Figure) and
    ``.save(dir)`` (the files ``cposim run`` writes).

    >>> import sim
    >>> cpo = {"name": "cpo-scaleout", "tier_policy": {"scaleout": "cpo"}}
    >>> res = sim.run_study({"fidelity": "analytical", "policies": ["copper-first", cpo],
    ...     "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2, "global_batch": 4}},
    ...     timeline=False)
    >>> comp = res.comparison().set_index("policy")
    >>> e = comp["network_energy_j"]
    >>> list(comp.index), bool(e["cpo-scaleout"] < e["copper-first"])
    (['copper-first', 'cpo-scaleout'], True)
    >>> sorted(res.links["policy"].unique())
    ['copper-first', 'cpo-scaleout']
    >>> sim.run_study({"workload": {"model": "llama3-8b", "gpus": 16}, "fidelty": "flow"})
    Traceback (most recent call last):
    sim.errors.CposimError: <study>, field 'fidelty': unknown key
    """
    from sim.study import run_study as _run

    cfg, source = study_config(config)
    if timeline is not None:
        cfg = cfg.model_copy(update={"timeline": bool(timeline)})
    if pipeline is not None:
        if pipeline not in PIPELINES:
            raise CposimError(f"unknown pipeline {pipeline!r}; choose from "
                              f"{', '.join(PIPELINES)}", file=source, field="pipeline")
        if cfg.workload.trace is None:
            raise CposimError("applies to a trace workload (workload.trace)", file=source,
                              field="pipeline")
        wl = cfg.workload.model_copy(update={"pipeline": pipeline})
        cfg = cfg.model_copy(update={"workload": wl})
    try:
        return _run(cfg, source, progress=progress)
    except CposimError as exc:   # name the study when the error came from deeper down
        if exc.file is not None:
            raise
        raise CposimError(exc.message, file=source, field=exc.field) from None


# ---------------------------------------------------------------------------- sweep
@dataclass
class SweepPlan:
    """A sweep, validated and expanded: the base study config, the grid and its points."""

    name: str
    task: str
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: list[int]
    points: list[Point]
    source: str
    section: dict[str, Any]          # the [sweep] table as run (for the manifest)


@dataclass
class SweepRun:
    """A finished sweep: the wide table (``sweep.parquet``), the tidy one
    (``sweep_tidy.parquet``, default task only) and what this call computed."""

    plan: SweepPlan
    out: Path
    table: pd.DataFrame
    tidy: pd.DataFrame | None
    computed: list[str]

    @property
    def failed(self) -> int:
        t = self.table
        return int((t["status"] != "ok").sum()) if "status" in t else 0

    @property
    def frame(self) -> pd.DataFrame:
        return self.table if self.tidy is None else self.tidy


def _grid_lists(grid: Any) -> dict[str, Any]:
    if not isinstance(grid, Mapping):
        raise CposimError("the grid is a dict of 'dotted.key': [values]", field="grid")
    out: dict[str, Any] = {}
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, range)) \
                and not hasattr(values, "tolist"):
            raise CposimError(f"axis {key!r} needs a list of values", field=f"grid.{key}")
        out[str(key)] = values.tolist() if hasattr(values, "tolist") else list(values)
    return out


def plan_sweep(config: Mapping[str, Any] | str | Path, grid: Mapping[str, Any] | None = None,
               *, seeds: Sequence[int] | None = None) -> SweepPlan:
    """Validate a sweep: ``config`` is a TOML file or dict (a study config, with or without a
    ``[sweep]`` table); ``grid``/``seeds`` replace the table's."""
    import pydantic

    from sim.config import PATH_KEYS, load_toml, resolve_paths, validation_error
    from sim.sweep import SweepSection, expand

    if isinstance(config, (str, Path)):
        source, folder = str(config), Path(config).parent
        raw = resolve_paths(load_toml(config), folder)
    elif isinstance(config, Mapping):
        source, folder, raw = "<sweep>", None, copy.deepcopy(dict(config))
    else:
        raise CposimError(f"a sweep is a dict or the path of a TOML file, not "
                          f"{type(config).__name__}", field="config")
    sweep_raw = raw.pop("sweep", None)
    if sweep_raw is None and grid is None:
        raise CposimError("no [sweep] table", file=source, field="sweep")
    if not isinstance(sweep_raw, (Mapping, type(None))):
        raise CposimError("must be a table", file=source, field="sweep")
    sweep_raw = dict(sweep_raw or {})
    if grid is not None:
        sweep_raw["grid"] = _grid_lists(grid)
    if seeds is not None:
        sweep_raw["seeds"] = list(seeds)
    try:
        section = SweepSection.model_validate(sweep_raw)
    except pydantic.ValidationError as exc:
        raise validation_error(exc, source, "sweep") from None
    if folder is not None:
        for sec, key in PATH_KEYS:        # swept file names are read like the base config's
            values = section.grid.get(f"{sec}.{key}")
            if values is not None:
                section.grid[f"{sec}.{key}"] = [
                    resolve_paths({sec: {key: v}}, folder)[sec][key] for v in values]
    try:
        points = expand(section.grid, section.seeds)
    except CposimError as exc:   # name the config
        if exc.file is not None:
            raise
        raise CposimError(exc.message, file=source, field=exc.field) from None
    return SweepPlan(section.name, section.task, raw, section.grid, section.seeds, points,
                     source, section.model_dump())


def check_sweep(plan: SweepPlan) -> None:
    """Raise for a point of the default task whose study config is invalid (an unknown key,
    a bad value), naming the field, instead of recording every point as failed."""
    import pydantic

    from sim.config import validation_error
    from sim.study import StudyConfig
    from sim.sweep import apply_overrides

    if plan.task != STUDY_TASK:
        return
    from workloads.generator import generate

    known = inspect.signature(generate).parameters
    seen: set[str] = set()
    for point in plan.points:
        cfg = apply_overrides(plan.base, dict(point.overrides))
        try:
            study = StudyConfig.model_validate({**cfg, "seed": point.seed, "timeline": False})
        except pydantic.ValidationError as exc:
            raise validation_error(exc, plan.source) from None
        w = study.workload.model_dump(exclude_none=True)
        if "trace" not in w:
            for key in w:
                if key not in known and key not in seen:
                    raise CposimError("unknown key", file=plan.source, field=f"workload.{key}")
                seen.add(key)


def execute_sweep(plan: SweepPlan, out: str | Path, *, workers: int | None = None,
                  scheduler: str | None = None, progress: bool = False) -> SweepRun:
    """Run ``plan``'s points not yet in ``out`` (resumable), write ``sweep.parquet``,
    ``sweep_tidy.parquet`` (default task) and ``manifest.json`` there, as ``cposim sweep``."""
    from sim import io
    from sim.sweep import PointStore, run_sweep as run_points, tidy

    if workers is not None and (not _is_count(workers) or workers < 1):
        raise CposimError("must be at least 1", field="workers")
    out = Path(out)
    store = PointStore(out)
    computed = run_points(plan.task, plan.base, plan.points, store, workers=workers,
                          scheduler=scheduler, progress=progress)
    table = store.table([p.key for p in plan.points])
    io.write_parquet(table, out / "sweep.parquet")
    tidy_table = None
    if plan.task == STUDY_TASK:     # its columns are <policy>.<metric>
        tidy_table = tidy(table, list(plan.grid))
        io.write_parquet(tidy_table, out / "sweep_tidy.parquet")
    io.write_json(io.manifest(plan.name, config={"sweep": plan.section, **plan.base},
                              points=len(plan.points), computed_now=len(computed)),
                  out / "manifest.json")
    return SweepRun(plan, out, table, tidy_table, computed)


def run_sweep(config: Mapping[str, Any] | str | Path, grid: Mapping[str, Any] | None = None,
              *, seeds: Sequence[int] | None = None, workers: int | None = None,
              scheduler: str | None = None, out: str | Path | None = None,
              progress: bool = False) -> pd.DataFrame:
    """A parameter study (``cposim sweep``): every point of ``grid`` (``{"dotted.key":
    [values]}``, crossed, times ``seeds``) applied to the study ``config`` (a dict or TOML
    file; its ``[sweep]`` table gives the grid when ``grid`` is not given) and run as
    :func:`run_study`, on ``workers`` local processes (default one per core; 1 = serial) or
    a Dask ``scheduler`` (``"tcp://host:8786"``).

    Returns the tidy table: one row per point x policy, the swept keys, ``seed`` and
    ``policy`` as columns and one column per metric (iteration_s, network_energy_j, ...). With
    ``out``, the points are kept there as they finish (a rerun resumes) with the files
    ``cposim sweep`` writes; without, they go to a temporary folder.

    >>> import sim
    >>> df = sim.run_sweep({"fidelity": "analytical", "policies": ["copper-first", "cpo"],
    ...     "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2}},
    ...     {"workload.global_batch": [4, 8]}, workers=1)
    >>> df.shape[0], sorted(df["policy"].unique()), set(df["status"])
    (4, ['copper-first', 'cpo'], {'ok'})
    """
    plan = plan_sweep(config, grid, seeds=seeds)
    check_sweep(plan)
    if out is not None:
        return execute_sweep(plan, out, workers=workers, scheduler=scheduler,
                             progress=progress).frame
    with tempfile.TemporaryDirectory(prefix="cposim-sweep-") as tmp:
        return execute_sweep(plan, Path(tmp) / "sweep", workers=workers, scheduler=scheduler,
                             progress=progress).frame


# ------------------------------------------------------------------------------ ASTRA-sim
@dataclass(frozen=True)
class AstraRun:
    """``cposim astra``'s outcome: ``result`` (ASTRA-sim's semantics: per-NPU finish ticks,
    ``.lines()`` its ``sys[i] finished`` lines) and/or ``bridge`` (the same ETs as a cposim
    study per link policy); ``.to_dict()`` is what ``cposim astra --json`` prints."""

    result: Any = None            # sim.astra.AstraResult, or None (bridge only)
    bridge: dict[str, Any] | None = None

    @property
    def finish_ns(self) -> list[int]:
        """Each NPU's finish time in ns (ASTRA-sim's ticks), or [] without an ASTRA-sim run."""
        return [] if self.result is None else list(self.result.to_dict()["finish_ns"])

    def to_dict(self) -> dict[str, Any]:
        out = self.result.to_dict() if self.result is not None else {}
        if self.bridge is not None:
            out["cposim_native"] = self.bridge
        return out

    def lines(self) -> list[str]:
        """The plain output of ``cposim astra``."""
        out = list(self.result.lines()) if self.result is not None else []
        if self.bridge is not None:
            from sim.astra.bridge import format_bridge

            out += ([""] if out else []) + [format_bridge(self.bridge)]
        return out


def run_astra(workload_configuration: str | Path, system_configuration: str | Path | None = None,
          network_configuration: str | Path | None = None, *,
          remote_memory_configuration: str | Path | None = None,
          backend: str = "congestion-unaware", comm_group_configuration: str | Path | None = None,
          injection_scale: float = 1.0, num_queues_per_dim: int = 1,
          cposim_fabric: str | None = None, policies: Sequence[str] | None = None,
          fidelity: str = "flow") -> AstraRun:
    """ASTRA-sim 2.x inputs (``cposim astra``): Chakra ETs ``<prefix>.<i>.et`` with the system
    JSON and network YAML run with ASTRA-sim's analytical semantics; with ``cposim_fabric``
    (a topology preset) also on cposim's fabric once per link policy (the bridge), in which
    case the ASTRA-sim files are optional. Bad input raises :class:`CposimError` naming the
    file and key.

    >>> import sim, tempfile
    >>> from pathlib import Path
    >>> from sim.astra.microbench import write_microbenchmark, write_network, write_system
    >>> d = Path(tempfile.mkdtemp())        # ASTRA-sim's 8-NPU 1 MB all-reduce microbenchmark
    >>> _ = write_microbenchmark(d / "ar", "all_reduce", 8, 2**20)
    >>> run = sim.run_astra(d / "ar", write_system(d / "sys.json"),
    ...                 write_network(d / "net.yml", ["Ring"], [8], [50], [500]))
    >>> len(run.finish_ns), run.lines()[0].startswith("sys[0] finished")
    (8, True)
    """
    if not workload_configuration:
        raise CposimError("required: the Chakra ET prefix (NPU i reads PREFIX.i.et)",
                          field="workload-configuration")
    if policies and not cposim_fabric:
        raise CposimError("policies apply to the bridge: give cposim_fabric (a preset)",
                          field="policy")
    result = None
    if cposim_fabric is None or system_configuration or network_configuration:
        for name, value in (("system-configuration", system_configuration),
                            ("network-configuration", network_configuration)):
            if not value:
                raise CposimError("required (as for ASTRA-sim's analytical binaries)",
                                  field=name)
        from sim.astra import run_astra as astra_run

        result = astra_run(workload_configuration, system_configuration, network_configuration,
                           remote_memory_configuration, backend,
                           comm_group_path=comm_group_configuration,
                           injection_scale=injection_scale,
                           num_queues_per_dim=num_queues_per_dim)
    bridge = None
    if cposim_fabric:
        from sim.astra.bridge import run_bridge

        bridge = run_bridge(str(workload_configuration), cposim_fabric,
                            list(policies) if policies else None, fidelity)
    return AstraRun(result, bridge)
