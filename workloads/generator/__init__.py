"""LLM-training trace generator: model zoo, GPU presets, Megatron-style parallelism."""

from importlib import import_module

# Names load on first use (PEP 562): `cposim trace generate --help` lists the zoo without
# importing numpy and the trace builder.
_WHERE = {"GPUS": "gpus", "GpuSpec": "gpus", "get_gpu": "gpus", "generate": "llm",
          "MODELS": "models", "ModelSpec": "models", "get_model": "models",
          "ParallelConfig": "parallelism"}

__all__ = ["GPUS", "MODELS", "GpuSpec", "ModelSpec", "ParallelConfig", "generate", "get_gpu",
           "get_model"]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(import_module(f"workloads.generator.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workloads.generator' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
