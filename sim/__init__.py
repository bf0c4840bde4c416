"""cposim: discrete-event simulation of AI-training traffic over CPO, pluggable optics and copper links."""

from sim.errors import CposimError

__version__ = "0.1.0"
__all__ = ["CposimError", "__version__"]
