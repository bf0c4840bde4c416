"""Read and write traces in any supported format, detected from the path and the content.

Formats (``FORMATS``): ``native`` (``*.cposim.json``, :mod:`workloads.native`),
``astra-sim-1.0`` and ``simai`` (text, :mod:`workloads.readers.astra_text`), ``chakra-et``
(``<prefix>.<rank>.et``) and ``chakra-json`` (:mod:`workloads.readers.chakra`).
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.errors import CposimError
from workloads.trace import Trace

FORMATS = ("native", "astra-sim-1.0", "simai", "chakra-et", "chakra-json")
# Reader options by format (besides ``format`` and ``world_size``): a study's [workload] table
# and the CLI pass them through, so an unknown one must be named here, not fail inside a reader.
TEXT_OPTIONS = ("dims", "micro", "update", "pipeline", "schedule", "pp_overlap")
WRITE_FORMATS = ("native", "chakra-et", "chakra-json")


def _has_rank_files(p: Path, ext: str) -> bool:
    if not p.parent.is_dir():
        return False
    pat = re.compile(re.escape(p.name) + r"\.\d+\." + ext + "$")
    return any(pat.match(q.name) for q in p.parent.iterdir())


def detect_format(path: str | Path) -> str:
    """Which reader a path needs (``astra-sim-1.0`` also covers the SimAI dialect)."""
    p = Path(path)
    if p.suffix == ".et" or (not p.exists() and _has_rank_files(p, "et")):
        return "chakra-et"
    if not p.exists() and _has_rank_files(p, "json"):
        return "chakra-json"
    if not p.is_file():
        raise CposimError("no such file (nor Chakra rank files <prefix>.<rank>.et)",
                          file=str(path))
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise CposimError(f"cannot read: {exc.strerror}", file=str(path)) from None
    stripped = head.lstrip()
    if p.suffix == ".json" or stripped[:1] in (b"{", b"["):
        if b'"cposim-trace"' in head:
            return "native"
        return "chakra-json"
    first = stripped.split(b"\n", 1)[0].split()
    from workloads.readers.astra_text import PARALLELISMS

    if first and first[0].decode("latin-1") in PARALLELISMS:
        return "astra-sim-1.0"
    raise CposimError("unknown trace format (expected a cposim .json, an ASTRA-sim/SimAI text "
                      "workload starting with a parallelism type, or Chakra .et/.json)",
                      file=str(path), line=1)


def read_trace(path: str | Path, *, format: str | None = None, world_size: int | None = None,
               **opts) -> Trace:
    """Read any supported trace. Text options: ``world_size`` and :data:`TEXT_OPTIONS`
    (see :func:`workloads.readers.astra_text.read_astra_text`)."""
    fmt = format or detect_format(path)
    text = fmt in ("astra-sim-1.0", "simai")
    unknown = sorted(k for k in opts if k not in TEXT_OPTIONS)
    if unknown:
        known = ", ".join(("world_size",) + TEXT_OPTIONS) if text else "world_size"
        raise CposimError(f"unknown reader option {unknown[0]!r} for {fmt} traces "
                          f"(options: {known})", file=str(path), field=unknown[0])
    if fmt == "native":
        from workloads.native import read_native

        trace = read_native(path)
    elif fmt in ("astra-sim-1.0", "simai"):
        from workloads.readers.astra_text import read_astra_text

        return read_astra_text(path, world_size=world_size, **opts)
    elif fmt in ("chakra-et", "chakra-json"):
        from workloads.readers.chakra import read_chakra

        trace = read_chakra(path)
    else:
        raise CposimError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})",
                          field="format")
    if opts:
        raise CposimError(f"options {sorted(opts)} only apply to text workloads",
                          file=str(path), field=sorted(opts)[0])
    if world_size is not None and world_size != trace.world_size:
        raise CposimError(f"world_size={world_size} but the trace has {trace.world_size} ranks",
                          file=str(path), field="world_size")
    return trace


def output_format(path: str | Path) -> str:
    name = Path(path).name
    if name.endswith(".chakra.json"):
        return "chakra-json"
    if name.endswith(".json"):
        return "native"
    if name.endswith(".et"):
        return "chakra-et"
    raise CposimError("cannot tell the output format from the name: use *.cposim.json "
                      "(native), *.et (Chakra prefix) or *.chakra.json (Chakra JSON)",
                      file=str(path))


def write_trace(trace: Trace, path: str | Path, *, format: str | None = None) -> list[Path]:
    """Write ``trace``; the format comes from the extension unless given. Returns the files."""
    fmt = format or output_format(path)
    if fmt == "native":
        from workloads.native import write_native

        return [write_native(trace, path)]
    if fmt == "chakra-et":
        from workloads.readers.chakra import write_chakra_et

        return write_chakra_et(trace, path)
    if fmt == "chakra-json":
        from workloads.readers.chakra import write_chakra_json

        return write_chakra_json(trace, path)
    raise CposimError(f"cannot write format {fmt!r} (expected one of "
                      f"{', '.join(WRITE_FORMATS)})", field="format")
