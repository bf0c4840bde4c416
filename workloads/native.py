"""cposim's own trace file: one JSON document, ``*.cposim.json``.

Why JSON: the canonical model is a graph of small records with optional fields; JSON keeps it
readable and diffable, needs no extra dependency, and has a standard schema language (the
exported ``workloads/schema/trace.schema.json``) that other tools can validate against.
Traces stay small because ranks running the same ops share one program (``ranks`` may be
written as ranges ``{"start", "stop", "step"}``), so a 16k-rank data-parallel trace is as
large as a 1-rank one, and ops omit fields left at their defaults.

The document is validated by pydantic models with ``extra="forbid"`` (a misspelled key is an
error), then by :meth:`Trace.validate` (dependencies exist, no cycles, known groups...).
See ``docs/trace-format.md`` for the field reference and an example.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.errors import CposimError
from workloads.trace import COLLECTIVES, OP_KINDS, Group, Op, Program, Trace

# Largest world a trace may declare: 4M ranks is far beyond any machine built, and a bound
# keeps a corrupt header from allocating rank arrays of arbitrary size.
MAX_WORLD_SIZE = 1 << 22
FORMAT = "cposim-trace"
VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "trace.schema.json"

_Kind = Literal[OP_KINDS]  # type: ignore[valid-type]
_Coll = Literal[COLLECTIVES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class OpModel(_Strict):
    """One op. Units: seconds, bytes, FLOPs."""

    id: int = Field(ge=0)
    kind: _Kind
    name: str = ""
    deps: list[int] = Field(default_factory=list, description="ids of ops of the same program")
    duration_s: float | None = Field(None, ge=0, description="compute time, seconds")
    flops: float | None = Field(None, ge=0, description="compute work for a roofline, FLOP")
    mem_bytes: float | None = Field(None, ge=0, description="memory traffic for a roofline, bytes")
    collective: _Coll | None = None
    group: str | None = Field(None, description="communicator group name (see groups)")
    size_bytes: float = Field(0.0, ge=0, description="nccl-tests convention, bytes")
    split_bytes: list[float] | None = Field(None, description="uneven all-to-all, bytes per member")
    peer: int | None = Field(None, ge=0, description="absolute peer rank (send/recv)")
    peer_offset: int | None = Field(None, description="peer = my position in group + offset")
    tag: int = 0
    algorithm: str | None = None
    layer: str | None = None
    phase: str | None = None


class RankRange(_Strict):
    """Ranks ``range(start, stop, step)``."""

    start: int = Field(ge=0)
    stop: int = Field(ge=0)
    step: int = Field(1, ge=1)


class ProgramModel(_Strict):
    name: str = ""
    ranks: list[int | RankRange]
    ops: list[OpModel]


class GroupModel(_Strict):
    members: list[list[int]] = Field(description="one row of ranks per communicator")


class TraceDocument(_Strict):
    """A cposim trace file."""

    format: Literal["cposim-trace"]
    version: Literal[1]
    world_size: int = Field(gt=0, le=MAX_WORLD_SIZE)
    groups: dict[str, GroupModel] = Field(default_factory=dict)
    programs: list[ProgramModel]
    metadata: dict = Field(default_factory=dict)


def json_schema() -> dict:
    schema = TraceDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cposim/schema/trace.schema.json"
    return schema


# ---------------------------------------------------------------------------- conversion
def _ranks_to_json(ranks: np.ndarray) -> list:
    """Compress sorted-or-not ranks into arithmetic runs (runs of < 3 stay plain ints)."""
    r = [int(x) for x in ranks]
    out: list = []
    i = 0
    while i < len(r):
        j = i + 1
        if j < len(r) and r[j] > r[i]:
            step = r[j] - r[i]
            while j + 1 < len(r) and r[j + 1] - r[j] == step:
                j += 1
            if j - i + 1 >= 3:
                out.append({"start": r[i], "stop": r[j] + 1, "step": step} if step != 1
                           else {"start": r[i], "stop": r[j] + 1})
                i = j + 1
                continue
        out.append(r[i])
        i += 1
    return out


def _ranks_from_model(items: list, source: str = "<trace>", field: str = "ranks") -> np.ndarray:
    parts = []
    for it in items:
        if isinstance(it, RankRange):
            parts.extend(range(it.start, it.stop, it.step))
        else:
            parts.append(int(it))
    return _int64(parts, source, field)


def _int64(values, source: str, field: str) -> np.ndarray:
    """Rank ids as int64, or a clear error for ids beyond 64 bits (JSON allows any size)."""
    try:
        return np.asarray(values, dtype=np.int64)
    except OverflowError:
        raise CposimError("rank ids must be integers below 2**63", file=source,
                          field=field) from None


_OP_DEFAULTS = {name: OpModel.model_fields[name].get_default(call_default_factory=True)
                for name in Op.__slots__ if name not in ("id", "kind")}
_OP_DEFAULTS["deps"] = ()


def _op_to_json(op: Op) -> dict:
    d = {"id": op.id, "kind": op.kind}
    for name, default in _OP_DEFAULTS.items():
        v = getattr(op, name)
        if v is None or v == default:
            continue
        d[name] = list(v) if name in ("deps", "split_bytes") else v
    return d


def to_document(trace: Trace) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "world_size": int(trace.world_size),
        "groups": {n: {"members": g.members.tolist()} for n, g in trace.groups.items()},
        "programs": [{"name": p.name, "ranks": _ranks_to_json(p.ranks),
                      "ops": [_op_to_json(op) for op in p.ops]} for p in trace.programs],
        "metadata": trace.metadata,
    }


def _locate(text: str, path: tuple) -> int | None:
    """1-based line of the JSON value at ``path`` (keys and list indices) in ``text``."""
    dec = json.JSONDecoder()
    n = len(text)

    def ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    try:
        i = ws(0)
        for key in path:
            if text[i] == "{":
                i = ws(i + 1)
                while text[i] != "}":
                    k, i = dec.raw_decode(text, i)
                    i = ws(ws(i) + 1)  # past ':'
                    if k == key:
                        break
                    i = ws(dec.raw_decode(text, i)[1])
                    i = ws(i + 1) if text[i] == "," else i
                else:
                    return None
            elif text[i] == "[" and isinstance(key, int):
                i = ws(i + 1)
                for _ in range(key):
                    if text[i] == "]":
                        return None
                    i = ws(dec.raw_decode(text, i)[1])
                    i = ws(i + 1) if text[i] == "," else i
                if text[i] == "]":
                    return None
            else:
                return None
        return text.count("\n", 0, i) + 1
    except (IndexError, ValueError):
        return None


def _line_of_trace_error(exc: CposimError, doc: dict, text: str | None) -> int | None:
    """Map Trace.validate's ``programs[i].ops[id=k]`` (or a cycle's ids) to a line."""
    if text is None or exc.field is None:
        return None
    m = re.match(r"programs\[(\d+)\](?:\.ops\[id=(-?\d+))?", exc.field)
    if not m:
        return None
    pi = int(m.group(1))
    op_id = m.group(2)
    if op_id is None:
        ids = re.findall(r"-?\d+", exc.message.split("[", 1)[-1]) if "[" in exc.message else []
        op_id = ids[0] if ids else None
    path: tuple = ("programs", pi)
    if op_id is not None:
        try:
            idx = [o.get("id") for o in doc["programs"][pi]["ops"]].index(int(op_id))
            path += ("ops", idx)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError):
            pass
    return _locate(text, path)


def from_document(doc: dict, source: str = "<document>", text: str | None = None) -> Trace:
    """Validate a parsed document; ``text`` (the file's text) lets errors name a line."""
    try:
        return _from_document(doc, source)
    except CposimError as exc:
        line = exc.line if exc.line is not None else _line_of_trace_error(exc, doc, text)
        raise CposimError(exc.message, file=source, line=line, field=exc.field) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        # the value's line; for a misspelled key, the line of the object holding it
        line = None
        if text is not None:
            line = _locate(text, tuple(err["loc"])) or _locate(text, tuple(err["loc"][:-1]))
        raise CposimError(f"{err['msg']} ({len(exc.errors())} error(s))", file=source,
                          line=line, field=loc) from None


def _from_document(doc: dict, source: str) -> Trace:
    m = TraceDocument.model_validate(doc)
    groups = {}
    for name, g in m.groups.items():
        rows = g.members
        if not rows or any(len(r) != len(rows[0]) for r in rows) or not rows[0]:
            raise CposimError("members must be a non-empty list of equal-length rows",
                              file=source, field=f"groups.{name}.members")
        groups[name] = Group(name, _int64(rows, source, f"groups.{name}.members"))
    programs = []
    for pm in m.programs:
        ops = [Op(id=o.id, kind=o.kind, name=o.name, deps=tuple(o.deps),
                  duration_s=o.duration_s, flops=o.flops, mem_bytes=o.mem_bytes,
                  collective=o.collective, group=o.group, size_bytes=o.size_bytes,
                  split_bytes=tuple(o.split_bytes) if o.split_bytes is not None else None,
                  peer=o.peer, peer_offset=o.peer_offset, tag=o.tag, algorithm=o.algorithm,
                  layer=o.layer, phase=o.phase) for o in pm.ops]
        programs.append(Program(_ranks_from_model(pm.ranks, source,
                                                  f"programs.{len(programs)}.ranks"),
                                ops, name=pm.name))
    return Trace(m.world_size, programs, groups, dict(m.metadata)).validate(source)


# ---------------------------------------------------------------------------- files
def read_native(path: str | Path) -> Trace:
    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CposimError(f"cannot read: {exc}", file=src) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CposimError(f"invalid JSON: {exc.msg}", file=src, line=exc.lineno) from None
    except RecursionError:
        raise CposimError("JSON nested too deeply", file=src) from None
    if not isinstance(doc, dict):
        raise CposimError("a cposim trace is a JSON object", file=src, line=1)
    return from_document(doc, src, text)


def dumps(trace: Trace) -> str:
    """Stable text: header fields indented, one op per line (diffable, compact)."""
    doc = to_document(trace)
    lines = ["{", f'  "format": "{FORMAT}",', f'  "version": {VERSION},',
             f'  "world_size": {doc["world_size"]},', '  "metadata": '
             + json.dumps(doc["metadata"], sort_keys=True) + ",", '  "groups": {']
    gl = [f"    {json.dumps(n)}: {json.dumps(g, separators=(',', ':'))}"
          for n, g in doc["groups"].items()]
    lines.append(",\n".join(gl))
    lines.append("  },")
    lines.append('  "programs": [')
    progs = []
    for p in doc["programs"]:
        ops = ",\n".join("      " + json.dumps(o, separators=(", ", ": ")) for o in p["ops"])
        progs.append(f'    {{"name": {json.dumps(p["name"])}, "ranks": '
                     f'{json.dumps(p["ranks"])}, "ops": [\n{ops}\n    ]}}')
    lines.append(",\n".join(progs))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_native(trace: Trace, path: str | Path) -> Path:
    """Validate, then write atomically (temp file + rename)."""
    trace.validate(str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(trace)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_schema(path: str | Path = SCHEMA_PATH) -> Path:
    path = Path(path)
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    return path
