"""Command-line hook: ``sim/cli/trace.py`` registers ``cposim trace generate`` with
:func:`add_arguments` and calls :func:`generate_from_args`."""

from __future__ import annotations

import argparse

from sim.errors import CposimError
from workloads.generator.gpus import GPUS
from workloads.generator.models import MODELS

_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9}


def _count(text: str) -> float:
    """A parameter count such as ``40000000``, ``40e6`` or ``40M``."""
    s = str(text).strip()
    mult = _SUFFIX.get(s[-1:].lower(), 1.0)
    if mult != 1.0:
        s = s[:-1]
    try:
        value = float(s) * mult
    except ValueError:
        raise CposimError(f"not a parameter count: {text!r} (e.g. 40M, 40e6)",
                          field="--bucket-size") from None
    if value <= 0:
        raise CposimError(f"bucket size must be positive, got {text!r}", field="--bucket-size")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", required=True, choices=sorted(MODELS), help="model from the zoo")
    a("--gpus", type=int, required=True, help="total GPUs (= tp*pp*dp)")
    a("--tp", type=int, default=1, help="tensor-parallel size (default 1)")
    a("--pp", type=int, default=1, help="pipeline-parallel stages (default 1)")
    a("--dp", type=int, default=None, help="data-parallel size (default gpus/(tp*cp*pp))")
    a("--ep", type=int, default=1, help="expert-parallel size, carved out of dp (MoE only)")
    a("--vpp", type=int, default=1, help="virtual stages per pipeline stage (interleaved)")
    a("--cp", type=int, default=1,
      help="context-parallel size (Llama 3 all-gather CP: K/V gathered per layer; default 1)")
    a("--sp", action=argparse.BooleanOptionalAction, default=None,
      help="Megatron sequence parallelism (default: on when tp > 1)")
    a("--zero", type=int, choices=(0, 1), default=1,
      help="0: DP gradient all-reduce; 1: distributed optimizer RS + AG (default)")
    a("--micro-batch", type=int, default=1, help="sequences per micro-batch (default 1)")
    a("--global-batch", type=int, default=None,
      help="sequences per iteration (default: the model's published value)")
    a("--seq-len", type=int, default=None, help="tokens per sequence (default: the model's)")
    a("--gpu", choices=sorted(GPUS), default="h100", help="GPU preset (default h100)")
    a("--mfu", "--fraction", dest="fraction", type=float, default=None,
      help="achievable fraction of dense BF16 peak for compute kernels (default: preset's)")
    a("--schedule", choices=("1f1b", "gpipe", "interleaved"), default=None,
      help="pipeline schedule (default 1f1b; interleaved when --vpp > 1)")
    a("--recompute", nargs="?", const="full", default="none",
      choices=("none", "selective", "full"),
      help="activation recomputation (bare --recompute = full)")
    a("--attention", choices=("flash", "unfused"), default="flash",
      help="attention kernels: flash (default) or unfused (s x s scores in HBM, pre-2022 "
           "Megatron)")
    a("--elementwise", choices=("overlapped", "serial"), default="overlapped",
      help="element-wise kernels hidden under the GEMM roofline (default) or serial (as "
           "the validation figure runs them)")
    a("--overlap-param-gather", action="store_true",
      help="with --zero 1: overlap the parameter all-gather with the next forward "
           "(Megatron --overlap-param-gather); default: after the optimizer step")
    a("--bucket-size", type=str, default=None,
      help="DP gradient bucket size in parameters, e.g. 40M (default max(40M, 1M*dp), "
           "Megatron DDP)")


def generate_from_args(args: argparse.Namespace):
    """The :class:`~workloads.trace.Trace` the arguments describe."""
    from workloads.generator.llm import generate

    return generate(args.model, gpus=args.gpus, tp=args.tp, pp=args.pp, dp=args.dp, ep=args.ep,
                    vpp=args.vpp, sp=args.sp, cp=args.cp, attention=args.attention,
                    elementwise=args.elementwise, zero=args.zero, micro_batch=args.micro_batch,
                    global_batch=args.global_batch, seq_len=args.seq_len, gpu=args.gpu,
                    fraction=args.fraction, schedule=args.schedule, recompute=args.recompute,
                    bucket_size_params=None if args.bucket_size is None
                    else _count(args.bucket_size),
                    overlap_param_gather=args.overlap_param_gather)
