"""Refuse up front a collective whose transfers cannot fit in this machine's memory.

Every point-to-point transfer of a schedule becomes a row (step, ranks, bytes, buffer range),
a routed GPU pair and, in the network models, a flow with its rate and finish time. Measured
(``cposim collective --op alltoall --algo direct`` on one switch): about 380 bytes per transfer
at ``analytical`` fidelity, 600 at ``flow``, 800-900 with four-hop routes. A direct
all-to-all of ``n`` ranks has ``n(n-1)`` of them at once, so at 16,384 GPUs it needs ~100 GB
whatever the model, and the kernel would kill the process minutes in. We stop before the
first allocation instead, with the numbers, when even a lower bound of that cost exceeds the
memory the system reports available.
"""

from __future__ import annotations

import os

from sim.errors import CposimError

# a lower bound of the measured cost per transfer (analytical: ~380 B)
BYTES_PER_TRANSFER = 300


def available_bytes() -> int | None:
    """Memory the system can give this process now (Linux ``MemAvailable``, else free
    physical pages), or None where neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_transfers(n_transfers: int, what: str, field: str = "gpus") -> None:
    """Raise a :class:`CposimError` naming ``field`` when ``n_transfers`` transfers cannot
    fit in the available memory, even at :data:`BYTES_PER_TRANSFER` each."""
    need = n_transfers * BYTES_PER_TRANSFER
    have = available_bytes()
    if have is None or need <= have:
        return
    raise CposimError(
        f"{what} is {n_transfers:,} point-to-point transfers; simulating them needs at least "
        f"{need / 1e9:.0f} GB (>= {BYTES_PER_TRANSFER} B each), more than the "
        f"{have / 1e9:.1f} GB available: use fewer ranks per communicator (e.g. expert-"
        "parallel groups) or a machine with more memory", field=field)
