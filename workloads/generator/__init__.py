"""LLM-training trace generator: model zoo, GPU presets, Megatron-style parallelism."""

from workloads.generator.gpus import GPUS, GpuSpec, get_gpu
from workloads.generator.llm import generate
from workloads.generator.models import MODELS, ModelSpec, get_model
from workloads.generator.parallelism import ParallelConfig

__all__ = ["GPUS", "MODELS", "GpuSpec", "ModelSpec", "ParallelConfig", "generate", "get_gpu",
           "get_model"]
