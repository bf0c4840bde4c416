"""cposim: discrete-event simulation of AI-training traffic over CPO, pluggable optics and copper links."""

from sim.errors import CposimError
from sim.hugepages import default_off as _hugepages_default_off

_hugepages_default_off()      # first run in a process 30 % faster at 131k GPUs: see sim.hugepages

__version__ = "0.1.0"
__all__ = ["CposimError", "__version__"]
