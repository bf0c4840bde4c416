"""ASTRA-sim 1.0 text workloads and the SimAI/AICB dialect -> canonical :class:`Trace`.

Format (ASTRA-sim branch ``ASTRA-sim-1.0``, ``Workload::initialize_workload``; SimAI fork
``astra-sim-alibabacloud/astra-sim/workload/Workload.cc``):

* line 1: parallelism type and type-specific header tokens
  (``model_parallel_NPU_group: n``, ``checkpoints: k l1..lk``, ``checkpoint_initiates: k ..``,
  DLRM's last bottom layer; SimAI adds ``ep: pp: vpp: ga: all_gpus: pp_comm``);
* line 2: number of layers;
* one row per layer, 12 whitespace-separated fields (13 for ``HYBRID_CUSTOMIZED``: the row's own
  parallelism): ``name dep fwd_compute fwd_type fwd_size ig_compute ig_type ig_size wg_compute
  wg_type wg_size wg_update``.

Units: sizes are bytes; compute and update times are cycles of a 1 GHz clock, i.e. **1 cycle =
1 ns** (ASTRA-sim 1.0 ``FREQ`` = 1 GHz; SimAI compute columns are ns, e.g. ``14565000`` =
14.6 ms). The ``dep`` field is "reserved" in the 1.0 README; every sample has -1; it is
parsed (must be an integer) and ignored, as ASTRA-sim does.

Dependency structure: one training iteration (one ASTRA-sim "pass"), reproducing the state
machines ``iterate_*`` of ``Workload.cc``:

* forward pass over layers 0..n-1; the forward collective is **blocking** (the next layer waits);
* backward pass n-1..0: input-gradient then weight-gradient (DATA and DLRM do weight-gradient
  first, then input-gradient, and skip layer 0's input gradient, as ASTRA-sim does);
  the weight-gradient collective is **non-blocking**: it overlaps the next layer's backward
  compute and only the iteration end waits for it; the input-gradient collective is blocking for
  ``HYBRID_TRANSFORMER*`` and non-blocking (issued for layers > 0, waited for before the next
  layer's backward) for ``MODEL``/``HYBRID_DATA_MODEL``/``HYBRID_MODEL_DATA``/``HYBRID_CUSTOMIZED``;
* ``wg_update``: in ASTRA-sim a delay after the layer's weight-gradient collective before the
  layer is ready for the *next* pass (``Wight_Grad_Comm_Finished_After_Delay``); it does not
  occupy the NPU and does not lengthen the pass ASTRA-sim reports. By default
  (``update="metadata"``) the times go to ``metadata['wg_update_s']`` (seconds, one per layer)
  and no op is emitted; ``update="op"`` emits a compute op (phase ``update``) after the
  collective, for a trace whose optimizer step runs on the GPU;
* ``HYBRID_TRANSFORMER_FWD_IN_BCKWD``: reaching a ``checkpoint_initiates`` layer in the backward
  pass re-runs the forward (compute + blocking collective) from the nearest checkpoint at or
  below it up to the layer before it (phase ``recompute``);
* ``HYBRID_DLRM``: only all-to-all forward collectives are issued (non-blocking); the last
  bottom-MLP layer waits for layer 0's all-to-all; layer 0 spans all dimensions; layer 0's
  input-gradient all-to-all is issued after the input-gradient compute of the first top layer;
* ``MICRO``: ASTRA-sim only issues layer 0's weight-gradient collective with no compute. By
  default (``micro="training"``) each row becomes fwd -> ig -> wg compute -> wg collective, rows
  run one after another (a size sweep); ``micro="collective-only"`` gives the collectives alone.

Groups (which logical dimensions a phase spans, ``decode_involved_dimensions``): ``all`` ->
``world``; ``DATA``/``MICRO``/``DLRM``: wg all, fwd/ig none; ``MODEL``: fwd/ig all, wg none;
``HYBRID_DATA_MODEL``: fwd/ig on dim 0 (``tp``), wg on dims 1.. (``dp``); ``HYBRID_MODEL_DATA``:
wg on dim 0 (``dp``), fwd/ig on dims 1.. (``tp``); ``HYBRID_TRANSFORMER*``: fwd/ig on ``tp``
(the first ``model_parallel_NPU_group`` ranks), wg on ``dp``. SimAI suffixes ``_EP`` /
``_DP_EP`` move a collective to ``ep`` / ``dp_ep``. Ranks are numbered Megatron-style: TP
fastest, then DP, then PP; EP splits the DP dimension into blocks of ``ep`` consecutive DP
indices (``ep``) and the strided remainder (``dp_ep``).

SimAI ``pp: P`` > 1 with ``pp_comm B``: one program per stage, with real send/recv traffic on
group ``pp`` (``peer_offset`` +-1): ``ga`` micro-batch activations of ``B`` bytes forward before
each stage's forward pass, ``ga`` gradients of ``B`` bytes backward after its backward pass.
The file does not say which rows belong to which micro-batch, so a stage runs its rows once and
the pipeline is not interleaved (a GPipe schedule without micro-batch overlap: the traffic is
exact, the bubble is the worst case). SimAI itself replaces this traffic by a formula.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.errors import CposimError
from workloads.native import MAX_WORLD_SIZE
from workloads.trace import BubbleFormula, Group, Op, Program, Trace

log = logging.getLogger(__name__)

NS_PER_CYCLE = 1.0  # ASTRA-sim 1.0 FREQ = 1 GHz -> 1 cycle = 1 ns (grade A, Workload.cc/Sys.cc)
MAX_MICROBATCHES = 1 << 16  # bound on ga: (p2p ops per stage); real runs use < 10^4
DEFAULT_WORLD_SIZE = 8  # assumption (grade U): ASTRA-sim examples' 8-NPU switch; override world_size=

PARALLELISMS = ("DATA", "MODEL", "MICRO", "HYBRID_DATA_MODEL", "HYBRID_MODEL_DATA",
                "HYBRID_TRANSFORMER", "HYBRID_TRANSFORMER_FWD_IN_BCKWD", "HYBRID_DLRM",
                "HYBRID_DLRM_ENHANCED", "HYBRID_CUSTOMIZED", "DISTRIBUTED_INFERENCE")
_TRANSFORMER = ("HYBRID_TRANSFORMER", "HYBRID_TRANSFORMER_FWD_IN_BCKWD")
_TWO_DIM = ("HYBRID_DATA_MODEL", "HYBRID_MODEL_DATA", "HYBRID_CUSTOMIZED")
_COMM_BASE = {"ALLREDUCE": ("allreduce",), "ALLGATHER": ("allgather",),
              "REDUCESCATTER": ("reducescatter",), "ALLTOALL": ("alltoall",),
              "ALLREDUCEALLTOALL": ("allreduce", "alltoall"), "BROADCAST": ("broadcast",)}
_SUFFIX_GROUP = {"_DP_EP": "dp_ep", "_EP": "ep"}  # longest suffix first
_INT_KEYS = {"model_parallel_NPU_group:": "tp", "ep:": "ep", "pp:": "pp", "vpp:": "vpp",
             "ga:": "ga", "all_gpus:": "all_gpus", "pp_comm": "pp_comm_bytes",
             "pp_comm:": "pp_comm_bytes", "DLRM_LAST_BOTTOM_LAYER:": "dlrm_last_bottom_layer"}
_SIMAI_KEYS = {"ep", "pp", "vpp", "ga", "all_gpus", "pp_comm_bytes"}
_FIELDS = ("name", "dependency", "fwd_compute", "fwd_comm_type", "fwd_comm_size",
           "ig_compute", "ig_comm_type", "ig_comm_size", "wg_compute", "wg_comm_type",
           "wg_comm_size", "wg_update_time")


@dataclass(frozen=True)
class Row:
    name: str
    line: int
    fwd_c: int
    fwd_t: str
    fwd_s: int
    ig_c: int
    ig_t: str
    ig_s: int
    wg_c: int
    wg_t: str
    wg_s: int
    update: int
    policy: str  # the row's own parallelism (HYBRID_CUSTOMIZED) or the file's


@dataclass
class Header:
    parallelism: str
    values: dict = field(default_factory=dict)
    checkpoints: list[int] = field(default_factory=list)
    checkpoint_initiates: list[int] = field(default_factory=list)
    dialect: str = "astra-sim-1.0"


# ---------------------------------------------------------------------------- parsing
def _int(tok: str, src: str, line: int, fld: str, *, nonneg: bool = True) -> int:
    try:
        v = int(tok)
    except ValueError:
        raise CposimError(f"expected an integer, got {tok!r}", file=src, line=line,
                          field=fld) from None
    if nonneg and v < 0:
        raise CposimError(f"must not be negative, got {v}", file=src, line=line, field=fld)
    return v


def _parse_header(tokens: list[str], src: str) -> Header:
    if not tokens:
        raise CposimError("empty header line (expected a parallelism type)", file=src, line=1)
    par = tokens[0]
    if par not in PARALLELISMS:
        raise CposimError(f"unknown parallelism {par!r} (expected one of "
                          f"{', '.join(PARALLELISMS)})", file=src, line=1, field="parallelism")
    h = Header(par)
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok in _INT_KEYS:
            if i + 1 >= len(tokens):
                raise CposimError(f"header token {tok!r} needs a value", file=src, line=1,
                                  field=tok)
            val = tokens[i + 1]
            if _INT_KEYS[tok] == "pp_comm_bytes" and val.endswith(".0"):
                val = val[:-2]  # AICB with sequence parallelism writes e.g. 16777216.0
            h.values[_INT_KEYS[tok]] = _int(val, src, 1, tok)
            i += 2
        elif tok in ("checkpoints:", "checkpoint_initiates:"):
            if i + 1 >= len(tokens):
                raise CposimError(f"header token {tok!r} needs a count", file=src, line=1,
                                  field=tok)
            k = _int(tokens[i + 1], src, 1, tok)
            if i + 2 + k > len(tokens):
                raise CposimError(f"{tok} declares {k} layers but the line ends early",
                                  file=src, line=1, field=tok)
            layers = [_int(t, src, 1, tok) for t in tokens[i + 2:i + 2 + k]]
            (h.checkpoints if tok == "checkpoints:" else h.checkpoint_initiates).extend(layers)
            i += 2 + k
        elif par.startswith("HYBRID_DLRM") and "dlrm_last_bottom_layer" not in h.values:
            h.values["dlrm_last_bottom_layer"] = _int(tok, src, 1, "dlrm_last_bottom_layer")
            i += 1
        else:
            raise CposimError(f"bad header token {tok!r}", file=src, line=1, field="header")
    if _SIMAI_KEYS & h.values.keys():
        h.dialect = "simai"
    return h


def _simai_rows(rows: list[Row]) -> bool:
    """BROADCAST and the _EP/_DP_EP suffixes exist only in SimAI/AICB workloads."""
    return any(t.startswith("BROADCAST") or t.endswith("_EP")
               for r in rows for t in (r.fwd_t, r.ig_t, r.wg_t))


def _check_comm(tok: str, src: str, line: int, fld: str) -> str:
    base, suffix = tok, ""
    for suf in ("_DP_EP", "_EP"):
        if tok.endswith(suf):
            base, suffix = tok[: -len(suf)], suf
            break
    if tok == "NONE" or (base in _COMM_BASE and (suffix == "" or base != "BROADCAST")):
        return tok
    raise CposimError(f"unknown comm type {tok!r} (expected NONE or one of "
                      f"{', '.join(_COMM_BASE)}, optionally with _EP or _DP_EP)",
                      file=src, line=line, field=fld)


def parse_astra_text(text: str, source: str = "<text>") -> tuple[Header, list[Row]]:
    """Parse the text into a header and rows; every problem is a CposimError with a line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = _parse_header(lines[0].split() if lines else [], source)
    n_line = 2
    while n_line <= len(lines) and not lines[n_line - 1].strip():
        n_line += 1
    if n_line > len(lines):
        raise CposimError("truncated file: missing the layer-count line", file=source,
                          line=n_line)
    toks = lines[n_line - 1].split()
    if len(toks) != 1:
        raise CposimError(f"layer-count line must hold one integer, got {len(toks)} fields",
                          file=source, line=n_line, field="layers")
    n_layers = _int(toks[0], source, n_line, "layers")
    n_fields = 13 if header.parallelism == "HYBRID_CUSTOMIZED" else 12
    rows: list[Row] = []
    last = n_line
    for ln in range(n_line + 1, len(lines) + 1):
        toks = lines[ln - 1].split()
        if not toks:
            continue
        last = ln
        if len(rows) == n_layers:
            raise CposimError(f"more layer rows than the {n_layers} declared on line {n_line}",
                              file=source, line=ln)
        if len(toks) != n_fields:
            raise CposimError(f"expected {n_fields} fields, got {len(toks)}", file=source,
                              line=ln)
        v = {f: t for f, t in zip(_FIELDS, toks)}
        _int(v["dependency"], source, ln, "dependency", nonneg=False)
        nums = {f: _int(v[f], source, ln, f) for f in _FIELDS
                if f.endswith(("_compute", "_size", "_time"))}
        types = {f: _check_comm(v[f], source, ln, f) for f in _FIELDS if f.endswith("_type")}
        policy = header.parallelism
        if n_fields == 13:
            policy = toks[12]
            if policy not in PARALLELISMS or policy == "HYBRID_CUSTOMIZED":
                raise CposimError(f"unknown per-layer parallelism {policy!r}", file=source,
                                  line=ln, field="parallelism")
        rows.append(Row(v["name"], ln, nums["fwd_compute"], types["fwd_comm_type"],
                        nums["fwd_comm_size"], nums["ig_compute"], types["ig_comm_type"],
                        nums["ig_comm_size"], nums["wg_compute"], types["wg_comm_type"],
                        nums["wg_comm_size"], nums["wg_update_time"], policy))
    if len(rows) < n_layers:
        raise CposimError(f"truncated file: line {n_line} declares {n_layers} layers, "
                          f"found {len(rows)} rows", file=source, line=last)
    return header, rows


# ---------------------------------------------------------------------------- groups
def _blocks(world: int, size: int, stride: int) -> np.ndarray:
    """Communicators of ``size`` ranks spaced ``stride`` apart, tiling 0..world-1."""
    r = np.arange(world).reshape(-1, size * stride)  # one super-block per row
    return r.reshape(-1, size, stride).transpose(0, 2, 1).reshape(-1, size)


@dataclass
class Layout:
    world: int
    low: int  # ranks in the "low" dimensions (tp / dim 0), contiguous
    pp: int = 1
    ep: int = 1
    low_name: str = "tp"
    high_name: str = "dp"
    groups: dict[str, Group] = field(default_factory=dict)

    def build(self, two_dim: bool, with_ep: bool) -> dict[str, Group]:
        w, low, pp = self.world, self.low, self.pp
        stage = w // pp
        high = stage // low
        g = {"world": Group("world", np.arange(w)[None, :])}
        if two_dim:
            g[self.low_name] = Group(self.low_name, np.arange(w).reshape(-1, low))
            g[self.high_name] = Group(self.high_name, _blocks(w, high, low))
        if pp > 1:
            g["pp"] = Group("pp", _blocks(w, pp, stage))
        if with_ep:
            g["ep"] = Group("ep", _blocks(w, self.ep, low))
            g["dp_ep"] = Group("dp_ep", _blocks(w, high // self.ep, low * self.ep))
        return g


def _group_for(policy: str, phase: str, layer: int, lay: Layout) -> str | None:
    """Which group a phase's collective spans (ASTRA-sim ``decode_involved_dimensions``)."""
    if policy in ("DATA", "MICRO") or policy.startswith("HYBRID_DLRM"):
        if policy.startswith("HYBRID_DLRM") and layer == 0:
            return "world"
        return "world" if phase == "wg" else None
    if policy in ("MODEL", "DISTRIBUTED_INFERENCE"):
        return None if phase == "wg" else "world"
    model_low = policy != "HYBRID_MODEL_DATA"  # transformer & DATA_MODEL: model on dim 0
    low, high = lay.low_name, lay.high_name
    model, data = (low, high) if model_low else (high, low)
    return data if phase == "wg" else model


# ---------------------------------------------------------------------------- builder
class _Builder:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, kind: str, deps, **kw) -> int:
        i = len(self.ops)
        self.ops.append(Op(id=i, kind=kind, deps=tuple(sorted({d for d in deps
                                                               if d is not None})), **kw))
        return i


@dataclass
class _Ctx:
    b: _Builder
    lay: Layout
    notes: list[str]
    update_mode: str = "metadata"
    prefix: str = ""            # op-name prefix, e.g. "mb3.c0." inside a pipeline schedule

    def compute(self, row: Row, phase: str, cycles: int, deps) -> int:
        return self.b.add("compute", deps, name=f"{self.prefix}{row.name}.{phase}",
                          duration_s=cycles * NS_PER_CYCLE / 1e9, layer=row.name, phase=phase)

    def comm(self, row: Row, phase: str, deps, *, policy: str | None = None,
             layer_idx: int = -1, tag: str = "") -> int | None:
        """Emit the phase's collective(s); returns the last op id, or None if none."""
        tok, size = {"fwd": (row.fwd_t, row.fwd_s), "ig": (row.ig_t, row.ig_s),
                     "wg": (row.wg_t, row.wg_s)}[phase]
        if tok == "NONE":
            return None
        base, group = tok, None
        for suf, g in _SUFFIX_GROUP.items():
            if tok.endswith(suf):
                base, group = tok[: -len(suf)], g
                break
        if group is None:
            group = _group_for(policy or row.policy, phase, layer_idx, self.lay)
            if group is None:
                self.notes.append(f"line {row.line}: {phase} {tok} not issued: "
                                  f"{policy or row.policy} spans no dimension in that phase")
                return None
        elif group not in self.lay.groups:
            raise CposimError(f"{tok} needs an expert-parallel layout (SimAI header ep:)",
                              line=row.line, field=f"{phase}_comm_type")
        last = None
        for coll in _COMM_BASE[base]:
            last = self.b.add("collective", list(deps) + [last],
                              name=f"{self.prefix}{row.name}.{phase}"
                              f"{'.' + coll if len(_COMM_BASE[base]) > 1 else ''}{tag}",
                              collective=coll, group=group, size_bytes=float(size),
                              layer=row.name, phase=phase)
        return last

    def update(self, row: Row, deps) -> int | None:
        if self.update_mode != "op":
            return None
        return self.compute(row, "update", row.update, deps)


def _iterate(par: str, rows: list[Row], ctx: _Ctx, header: Header, start: list,
             micro: str) -> list:
    """Emit one iteration; ``start`` are deps of the first op. Returns the ops that end its
    compute chain (what a pipeline stage's backward sends wait for)."""
    n = len(rows)
    if par == "MICRO":
        prev = list(start)
        for i, r in enumerate(rows):
            if micro == "collective-only":
                c = ctx.comm(r, "wg", prev, layer_idx=i)
                prev = [c] if c is not None else prev
                continue
            f = ctx.compute(r, "fwd", r.fwd_c, prev)
            ig = ctx.compute(r, "ig", r.ig_c, [f])
            w = ctx.compute(r, "wg", r.wg_c, [ig])
            c = ctx.comm(r, "wg", [w], layer_idx=i)
            prev = [c if c is not None else w]
        return prev

    if par == "DATA" or par.startswith("HYBRID_DLRM"):
        dlrm = par.startswith("HYBRID_DLRM")
        bottom = header.values.get("dlrm_last_bottom_layer", -1)
        prev, fwd0 = list(start), None
        for i, r in enumerate(rows):
            f = ctx.compute(r, "fwd", r.fwd_c, prev)
            prev = [f]
            if dlrm and r.fwd_t.startswith("ALLTOALL"):
                c = ctx.comm(r, "fwd", [f], layer_idx=i)  # non-blocking
                fwd0 = c if i == 0 else fwd0
            elif dlrm and i == bottom:
                prev = [f, fwd0]
            elif r.fwd_t != "NONE":
                ctx.notes.append(f"line {r.line}: fwd {r.fwd_t} not issued by {par}")
            if not dlrm and r.ig_t != "NONE":
                ctx.notes.append(f"line {r.line}: ig {r.ig_t} not issued by {par}")
        for i in range(n - 1, -1, -1):
            r = rows[i]
            w = ctx.compute(r, "wg", r.wg_c, prev)
            c = ctx.comm(r, "wg", [w], layer_idx=i)  # non-blocking
            ctx.update(r, [c if c is not None else w])
            prev = [w]
            if i == 0:
                break
            ig = ctx.compute(r, "ig", r.ig_c, [w])
            if dlrm and i == bottom + 1:
                ctx.comm(rows[0], "ig", [ig], layer_idx=0)  # non-blocking
            prev = [ig]
        return prev

    # MODEL, HYBRID_* (transformer, data/model, customized), DISTRIBUTED_INFERENCE
    prev = _hybrid_forward(rows, ctx, start)
    if par == "DISTRIBUTED_INFERENCE":
        return prev
    return _hybrid_backward(par, rows, ctx, header, prev)


def _layer_forward(rows: list[Row], i: int, ctx: _Ctx, deps, phase: str = "fwd") -> list:
    """Layer i's forward compute, then its blocking forward collective; returns the end."""
    r = rows[i]
    f = ctx.compute(r, phase, r.fwd_c, deps)
    c = ctx.comm(r, "fwd", [f], layer_idx=i, tag=".recompute" if phase != "fwd" else "")
    return [c if c is not None else f]


def _hybrid_forward(rows: list[Row], ctx: _Ctx, start: list) -> list:
    prev = list(start)
    for i in range(len(rows)):
        prev = _layer_forward(rows, i, ctx, prev)
    return prev


def _hybrid_backward(par: str, rows: list[Row], ctx: _Ctx, header: Header, prev: list,
                     first: int = 0) -> list:
    """Backward pass n-1..0 (``iterate_hybrid_parallel_*``); returns the ops ending its
    compute chain (the non-blocking weight-gradient collectives hang off it). ``rows`` are
    the file's rows ``first``.. (the checkpoint header names layers by their index in the
    file); a recompute stays within ``rows``."""
    transformer = par in _TRANSFORMER
    checkpoints = set(header.checkpoints)
    initiates = set(header.checkpoint_initiates)
    for i in range(len(rows) - 1, -1, -1):
        r = rows[i]
        if par == "HYBRID_TRANSFORMER_FWD_IN_BCKWD" and first + i in initiates:
            c = first + i
            while c >= 0 and c not in checkpoints:
                c -= 1
            if c < 0:
                raise CposimError(f"checkpoint_initiates layer {first + i} has no checkpoint "
                                  "at or below it", line=1, field="checkpoint_initiates")
            for j in range(max(c - first, 0), i):
                prev = _layer_forward(rows, j, ctx, prev, phase="recompute")
        ig = ctx.compute(r, "ig", r.ig_c, prev)
        if transformer:
            igc = ctx.comm(r, "ig", [ig], layer_idx=i)  # blocking
            after = [igc if igc is not None else ig]
            igc = None
        else:
            igc = ctx.comm(r, "ig", [ig], layer_idx=i) if i > 0 else None  # non-blocking
            if i == 0 and r.ig_t != "NONE":
                ctx.notes.append(f"line {r.line}: layer 0 ig {r.ig_t} not issued by {par}")
            after = [ig]
        w = ctx.compute(r, "wg", r.wg_c, after)
        c = ctx.comm(r, "wg", [w], layer_idx=i)  # non-blocking
        ctx.update(r, [c if c is not None else w])
        prev = [w, igc]
    return [p for p in prev if p is not None]


# ---------------------------------------------------------------------------- public
def read_astra_text(path: str | Path | None = None, *, text: str | None = None,
                    world_size: int | None = None, dims: list[int] | None = None,
                    micro: str = "training", update: str = "metadata",
                    pipeline: str = "schedule", schedule: str = "auto",
                    pp_overlap: float = 1.0, source: str | None = None) -> Trace:
    """Read an ASTRA-sim 1.0 or SimAI/AICB text workload into a :class:`Trace`.

    ``world_size``: number of NPUs when the header has no ``all_gpus:`` (default 8, an
    assumption recorded in ``metadata['assumptions']``). ``dims``: logical dimension sizes,
    dim 0 fastest (product = world size); only the split between dim 0 and the rest matters
    (``HYBRID_DATA_MODEL``/``HYBRID_MODEL_DATA``/``HYBRID_CUSTOMIZED``; default ``[2, W/2]``).
    ``micro``: ``"training"`` or ``"collective-only"``; ``update``: ``"metadata"`` or
    ``"op"`` (see the module docstring). SimAI ``pp:`` > 1: ``pipeline`` ``"schedule"``
    (default: the micro-batches as a 1F1B / interleaved pipeline) or ``"simai"`` (SimAI's
    accounting); ``schedule`` ``"auto"`` (interleaved when vpp > 1), ``"1f1b"``,
    ``"interleaved"`` or ``"gpipe"``; ``pp_overlap``: SimAI's ``-pp_o`` for the "simai"
    reading's exposed pipeline communication (default 1: none). See
    :mod:`workloads.readers.simai_pipeline`.
    """
    src = source or (str(path) if path is not None else "<text>")
    if text is None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise CposimError(f"cannot read: {exc.strerror}", file=src) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CposimError(f"not a text workload (byte {exc.start} is not UTF-8)",
                              file=src, line=raw[: exc.start].count(b"\n") + 1) from None
    if micro not in ("training", "collective-only"):
        raise CposimError(f"micro must be 'training' or 'collective-only', got {micro!r}",
                          field="micro")
    if update not in ("metadata", "op"):
        raise CposimError(f"update must be 'metadata' or 'op', got {update!r}", field="update")
    from workloads.readers.simai_pipeline import PIPELINES, SCHEDULES

    if pipeline not in PIPELINES:
        raise CposimError(f"pipeline must be one of {', '.join(PIPELINES)}, got {pipeline!r}",
                          field="pipeline")
    if schedule not in SCHEDULES:
        raise CposimError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}",
                          field="schedule")
    if isinstance(pp_overlap, bool) or not isinstance(pp_overlap, (int, float)) \
            or not 0.0 < pp_overlap <= 1.0:
        raise CposimError(f"pp_overlap must be a number in (0, 1] (SimAI's -pp_o), got "
                          f"{pp_overlap!r}", field="pp_overlap")
    try:
        header, rows = parse_astra_text(text, src)
        if _simai_rows(rows):
            header.dialect = "simai"
        return _to_trace(header, rows, src, world_size, dims, micro, update, pipeline,
                         schedule, float(pp_overlap))
    except CposimError as exc:
        if exc.file is None:
            raise CposimError(exc.message, file=src, line=exc.line, field=exc.field) from None
        raise


def _to_trace(header: Header, rows: list[Row], src: str, world_size, dims, micro,
              update, pipeline="schedule", schedule="auto", pp_overlap=1.0) -> Trace:
    hv = header.values
    par = header.parallelism
    assumptions: list[str] = []
    if "all_gpus" in hv:
        if world_size is not None and world_size != hv["all_gpus"]:
            raise CposimError(f"world_size={world_size} contradicts the header's all_gpus: "
                              f"{hv['all_gpus']}", file=src, line=1, field="all_gpus")
        world = hv["all_gpus"]
    elif world_size is not None:
        world = world_size
    elif dims:
        world = int(np.prod(dims))
    else:
        world = DEFAULT_WORLD_SIZE
        assumptions.append(f"world size {world} (default; the file does not say; "
                           "pass world_size=)")
    if not 0 < world <= MAX_WORLD_SIZE:
        raise CposimError(f"world size must be in 1..{MAX_WORLD_SIZE}, got {world}", file=src,
                          line=1, field="all_gpus")
    if dims and int(np.prod(dims)) != world:
        raise CposimError(f"dims {list(dims)} multiply to {int(np.prod(dims))}, not the "
                          f"world size {world}", field="dims")
    pp = hv.get("pp", 1) or 1
    ep = hv.get("ep", 1) or 1
    low_name, high_name = "tp", "dp"
    if par in _TRANSFORMER:
        if "tp" in hv:
            low = hv["tp"]
        elif dims:
            low = dims[0]
        else:
            raise CposimError(f"{par} needs model_parallel_NPU_group: in the header",
                              file=src, line=1, field="model_parallel_NPU_group")
    elif par in _TWO_DIM:
        if dims:
            low = dims[0]
        else:
            low = 2 if world % 2 == 0 and world > 1 else 1
            assumptions.append(f"logical dims [{low}, {world // max(low, 1)}] (default; "
                               "pass dims=)")
        if par == "HYBRID_MODEL_DATA":
            low_name, high_name = "dp", "tp"
        elif par == "HYBRID_CUSTOMIZED":
            low_name, high_name = "dim0", "dims1+"
    else:
        low = 1
    if low <= 0 or world % (low * pp) or (world // (low * pp)) % ep:
        raise CposimError(f"world size {world} is not divisible into tp={low} x pp={pp} "
                          f"(x ep={ep} within dp)", file=src, line=1, field="header")
    if pp > 1 and par not in _TRANSFORMER:
        raise CposimError(f"pp: {pp} is only meaningful for HYBRID_TRANSFORMER*", file=src,
                          line=1, field="pp:")
    uses_ep = any(t.endswith("_EP") for r in rows for t in (r.fwd_t, r.ig_t, r.wg_t))
    if uses_ep and par not in _TRANSFORMER:
        raise CposimError(f"_EP / _DP_EP comm types need a HYBRID_TRANSFORMER* workload, not "
                          f"{par}", file=src, line=1, field="parallelism")
    lay = Layout(world, low, pp=pp, ep=ep, low_name=low_name, high_name=high_name)
    lay.groups = lay.build(two_dim=par in _TRANSFORMER + _TWO_DIM,
                           with_ep="ep" in hv or uses_ep)

    notes: list[str] = []
    pp_bytes = hv.get("pp_comm_bytes", 0)
    ga = hv.get("ga", 1) or 1
    if pp > 1 and ga > MAX_MICROBATCHES:
        raise CposimError(f"ga: {ga} micro-batches is more than {MAX_MICROBATCHES}", file=src,
                          line=1, field="ga:")
    pipe_meta: dict = {}
    extra_meta: dict = {}
    if pp > 1:
        programs, pipe_meta, formula = _pipeline_programs(par, rows, header, lay, notes, update,
                                                           pipeline, schedule, pp_overlap)
        if formula is not None:
            extra_meta[BubbleFormula.KEY] = formula.to_metadata()
        if pp_bytes == 0 and pipeline == "schedule":
            notes.append(f"pp: {pp} without pp_comm: the pipeline's sends and receives carry "
                         "0 bytes (its dependencies stay)")
            log.warning("%s: pp: %d without pp_comm: pipeline transfers of 0 bytes", src, pp)
    else:
        ctx = _Ctx(_Builder(), lay, notes, update if par != "MICRO" else "metadata")
        _iterate(par, rows, ctx, header, [], micro)
        programs = [Program(np.arange(world), ctx.b.ops, name=par.lower())]
        if "pp" in hv or pipeline != "schedule":
            pipe_meta = {"reading": pipeline, "stages": 1,
                         "detail": "pp: 1, no pipeline: the rows run once"}
    header_meta = {k: v for k, v in hv.items()}
    if header.checkpoints or "FWD_IN" in par:
        header_meta["checkpoints"] = header.checkpoints
        header_meta["checkpoint_initiates"] = header.checkpoint_initiates
    meta = {
        "format": header.dialect, "source": src, "parallelism": par, "header": header_meta,
        "layers": len(rows), "layer_names": [r.name for r in rows],
        "wg_update_s": [r.update * NS_PER_CYCLE / 1e9 for r in rows], "wg_update": update,
        "units": {"compute": "cycles at 1 GHz = ns", "size": "bytes"},
        "parallel_sizes": {name: g.size for name, g in lay.groups.items()},
        "assumptions": assumptions, "notes": list(dict.fromkeys(notes)),
        "micro": micro if par == "MICRO" else None,
        **({"pipeline": pipe_meta} if pipe_meta else {}), **extra_meta,
    }
    if any(r.fwd_t.startswith("BROADCAST") or r.ig_t.startswith("BROADCAST")
           or r.wg_t.startswith("BROADCAST") for r in rows):
        meta["notes"].append("BROADCAST rows are issued as broadcasts (SimAI's parser "
                             "ignores them)")
    return Trace(world, programs, lay.groups, meta).validate(src)


def _pipeline_programs(par, rows, header, lay, notes, update, pipeline, schedule, pp_overlap):
    """One program per stage, ``pp:`` > 1 (see :mod:`workloads.readers.simai_pipeline`):
    returns (programs, the reading's metadata, the SimAI bubble formula or None)."""
    from workloads.readers import simai_pipeline as sp

    hv = header.values
    pp, world = lay.pp, lay.world
    ga, vpp = hv.get("ga", 1) or 1, hv.get("vpp", 1) or 1
    pp_bytes = float(hv.get("pp_comm_bytes", 0))
    stage_size = world // pp
    if pipeline == "simai":
        ctx = _Ctx(_Builder(), lay, notes, update)
        _iterate(par, rows, ctx, header, [], "training")
        programs = [Program(np.arange(s * stage_size, (s + 1) * stage_size), ctx.b.ops,
                            name=f"stage{s}") for s in range(pp)]
        formula = BubbleFormula(
            factor=(pp - 1) / (ga * vpp),
            exposed_pp_s=sp.simai_exposed_pp_s(vpp, ga, pp_bytes, pp_overlap),
            excluded_layers=sp.SIMAI_BUBBLE_EXCLUDES, comm_phases=("fwd", "ig"),
            source="SimAI astra-sim-alibabacloud/astra-sim/workload/Layer.cc Layer::report")
        meta = {"reading": "simai", "stages": pp, "micro_batches": ga, "vpp": vpp,
                "bubble_factor": formula.factor, "exposed_pp_s": formula.exposed_pp_s,
                "pp_overlap": pp_overlap,
                "detail": f"rows run once per stage; bubble = (pp-1)/(ga*vpp) = {pp - 1}/"
                          f"({ga}*{vpp}) of the non-embedding compute + fwd/ig comm"}
        return programs, meta, formula
    split = sp.split_microbatches(rows, ga)
    if split.note:
        notes.append(split.note)
    m = len(split.blocks)
    sched, v, why = sp.choose_schedule(schedule, pp, m, vpp, len(split.blocks[0]))
    if why:
        notes.append(why)
    chunks, why = sp.split_chunks(split.blocks[0], v)
    if why:
        notes.append(why)
    p2p_bytes = pp_bytes * (ga if split.how == "whole file" else 1)
    programs = []
    for s in range(pp):
        ctx = _Ctx(_Builder(), lay, notes, update)
        sp.emit_schedule(par, ctx, header, split, chunks, sched, s, pp, p2p_bytes,
                         _hybrid_forward, _hybrid_backward)
        programs.append(Program(np.arange(s * stage_size, (s + 1) * stage_size), ctx.b.ops,
                                name=f"stage{s}"))
    meta = {"reading": "schedule", "stages": pp, "schedule": sched, "micro_batches": m,
            "chunks": v, "split": split.how, "prologue_rows": len(split.prologue),
            "block_rows": len(split.blocks[0]), "epilogue_rows": len(split.epilogue),
            "p2p_bytes": p2p_bytes,
            "detail": f"{sched} over {m} micro-batch{'es' if m != 1 else ''}"
                      + (f" x {v} chunks" if v > 1 else "")
                      + f" ({split.how}; {len(split.prologue)} + {m} x {len(split.blocks[0])}"
                        f" + {len(split.epilogue)} rows)"}
    if vpp > 1 and v == vpp and split.how != "whole file":
        meta["detail"] += f"; vpp: {vpp} read as model chunks per stage (AICB writes its " \
                          "layers per stage there)"
    return programs, meta, None

