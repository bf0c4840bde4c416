"""GPU presets and the roofline that turns (FLOPs, bytes) into a compute time.

``fraction`` is the achievable fraction of dense BF16 peak for the *kernels* of a transformer
layer (GEMMs plus fused attention), not end-to-end MFU: bubbles and exposed communication are
what the simulator adds on top. Published end-to-end MFU is lower: Megatron-LM reports up to
47 % MFU for GPT-scale models on H100 (github.com/NVIDIA/Megatron-LM README), Llama 3 405B ran
at 38-43 % BF16 MFU on 16k H100 (arXiv 2407.21783, Table 4); large BF16 GEMMs reach ~70 % of
H100 peak. Hence 0.6 (grade D) for H100 and A100, and 0.55 (grade D) for Blackwell parts,
whose published training efficiency is not yet at Hopper's level. The validation figure
(``cposim figures validation``) fits one value for A100 and H100 on a published Megatron-LM run
(``sim/phy/calibration.csv``: 0.628, with element-wise kernels serial) and passes it as
``fraction``; the presets keep their defaults. ``hbm_fraction`` is the
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

    def compute_time_s(self, flops: float, mem_bytes: float, serial_bytes: float = 0.0) -> float:
        """Roofline: the slower of the math and the memory traffic, plus ``serial_bytes`` of
        memory-bound kernels that run on their own (not overlapped with the GEMMs: separate
        element-wise kernels, an unfused attention's score matrices)."""
        t = max(flops / (self.peak_flops * self.fraction),
                mem_bytes / (self.hbm_bw_Bps * self.hbm_fraction))
        if serial_bytes:
            t += serial_bytes / (self.hbm_bw_Bps * self.hbm_fraction)
        return t

    def with_fraction(self, fraction: float | None) -> GpuSpec:
        return self if fraction is None else replace(self, fraction=float(fraction))


GPUS: dict[str, GpuSpec] = {
    "a100": GpuSpec(
        name="a100", peak_flops=312e12, hbm_bw_Bps=2.039e12, hbm_bytes=80e9, fraction=0.6,
        hbm_fraction=0.85,
        source="NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB): BF16/FP16 312 TFLOPS dense "
               "(624 with sparsity); HBM2e 2,039 GB/s; 80 GB (grade A). fraction 0.6 grade D "
               "(the validation figure fits its own: sim/phy/calibration.csv)"),
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
