"""GPU presets and the roofline that turns (FLOPs, bytes) into a compute time.

``fraction`` is the achievable fraction of dense BF16 peak for the *kernels* of a transformer
layer (GEMMs plus fused attention), not end-to-end MFU: bubbles and exposed communication are
what the simulator adds on top. Published end-to-end MFU is lower: Megatron-LM reports up to
47 % MFU for GPT-scale models on H100 (github.com/NVIDIA/Megatron-LM README), Llama 3 405B ran
at 38-43 % BF16 MFU on 16k H100 (arXiv 2407.21783, Table 4); large BF16 GEMMs reach ~70 % of
H100 peak. Hence 0.6 (grade D) for H100, and 0.55 (grade D) for Blackwell parts, whose
published training efficiency is not yet at Hopper's level. ``hbm_fraction`` is the
achievable fraction of HBM bandwidth for streaming kernels (~85-90 % in STREAM-like tests on
H100; grade C).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.errors import CposimError


@dataclass(frozen=True)
class GpuSpec:
    name: str
    peak_flops: float        # dense BF16 FLOP/s (no sparsity)
    hbm_bw_Bps: float        # HBM bandwidth, bytes/s
    hbm_bytes: float         # HBM capacity, bytes (informational)
    fraction: float          # achievable fraction of peak_flops for layer kernels
    hbm_fraction: float      # achievable fraction of hbm_bw_Bps
    source: str = ""

    def __post_init__(self) -> None:
        for f in ("fraction", "hbm_fraction"):
            v = getattr(self, f)
            if not (0.0 < v <= 1.0):
                raise CposimError(f"{f} must be in (0, 1], got {v!r}", field=f)

    def compute_time_s(self, flops: float, mem_bytes: float) -> float:
        """Roofline: the slower of the math and the memory traffic."""
        return max(flops / (self.peak_flops * self.fraction),
                   mem_bytes / (self.hbm_bw_Bps * self.hbm_fraction))

    def with_fraction(self, fraction: float | None) -> GpuSpec:
        return self if fraction is None else replace(self, fraction=float(fraction))


GPUS: dict[str, GpuSpec] = {
    "h100": GpuSpec(
        name="h100", peak_flops=989.4e12, hbm_bw_Bps=3.35e12, hbm_bytes=80e9, fraction=0.6,
        hbm_fraction=0.85,
        source="NVIDIA H100 Tensor Core GPU datasheet (SXM5): BF16 1,979 TFLOPS with sparsity "
               "-> 989.4 dense; HBM3 3.35 TB/s; 80 GB (grade A). fraction 0.6 grade D"),
    "b200": GpuSpec(
        name="b200", peak_flops=2.25e15, hbm_bw_Bps=8.0e12, hbm_bytes=180e9, fraction=0.55,
        hbm_fraction=0.85,
        source="NVIDIA HGX B200 datasheet: FP16/BF16 36 PFLOPS with sparsity per 8 GPUs -> "
               "2.25 PFLOPS dense per GPU; HBM3e 8 TB/s, 180 GB per GPU (grade B). "
               "fraction 0.55 grade D"),
    "gb300": GpuSpec(
        name="gb300", peak_flops=2.5e15, hbm_bw_Bps=8.0e12, hbm_bytes=288e9, fraction=0.55,
        hbm_fraction=0.85,
        source="NVIDIA GB300 NVL72 datasheet: FP16/BF16 360 PFLOPS with sparsity per 72 GPUs "
               "-> 2.5 PFLOPS dense per Blackwell Ultra GPU; HBM3e 576 TB/s / 72 = 8 TB/s, "
               "288 GB per GPU (grade B). fraction 0.55 grade D"),
}


def get_gpu(gpu: str | GpuSpec) -> GpuSpec:
    if isinstance(gpu, GpuSpec):
        return gpu
    key = str(gpu).lower()
    if key not in GPUS:
        raise CposimError(f"unknown GPU preset {gpu!r} (known: {', '.join(GPUS)})", field="gpu")
    return GPUS[key]
