"""Workload traces: the canonical trace model, readers for peer formats, LLM generator."""

from importlib import import_module

# Loaded on first use (PEP 562), so that importing a light submodule (the generator's model
# zoo for `cposim --help`) does not pull numpy in through the package.
_NAMES = ("COLLECTIVES", "OP_KINDS", "Group", "Op", "Program", "Trace")
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(import_module("workloads.trace"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workloads' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
