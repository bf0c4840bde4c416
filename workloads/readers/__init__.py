"""Readers (and writers) for the workload formats peers use.

* :mod:`workloads.readers.astra_text` — ASTRA-sim 1.0 text workloads and their SimAI/AICB
  extension (same 12-field layer rows, extended header).
* :mod:`workloads.readers.chakra` — Chakra execution traces: per-rank protobuf ``.et`` files
  (decoded by :mod:`workloads.readers.protowire` against ``workloads/schema/chakra_et_def.proto``)
  and the two JSON forms.

Format detection and the native format live in :mod:`workloads.io` and :mod:`workloads.native`.
"""
