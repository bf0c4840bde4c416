"""Scale-out link policy x cluster size -> iteration time and network energy, on cposim's API.

    python examples/experiment.py [--quick] [--out FIGURE.png]

Llama-3 8B (TP8 x PP2) on growing DGX H100-style clusters; scale-up stays copper, the
scale-out tiers take each policy. Prints the table and writes one figure (never over a file).
"""

import argparse
import tempfile
from pathlib import Path

import sim

POLICIES = ["copper-first", "pluggable", "lpo", "cpo"]      # on the scale-out tiers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="scale-out policy x cluster size")
    ap.add_argument("--quick", action="store_true", help="small clusters, analytical fabric")
    ap.add_argument("--out", type=Path, help="figure path (default: in a new temporary folder)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="cposim-experiment-")) / "experiment.png"
    if out.exists():
        ap.error(f"{out} exists; not overwriting it")
    study = {"name": "scaleout-x-size", "fidelity": "analytical" if args.quick else "flow",
             "timeline": False,
             "policies": [{"name": p, "tier_policy": {"scaleout": p}} for p in POLICIES],
             "workload": {"model": "llama3-8b", "tp": 8, "pp": 2, "global_batch": 16}}
    gpus = [16, 32] if args.quick else [64, 128, 256]
    df = sim.run_sweep(study, {"workload.gpus": gpus}, workers=1 if args.quick else None)
    df["network_energy_per_gpu_j"] = df["network_energy_j"] / df["workload.gpus"]
    for metric in ("iteration_s", "network_energy_per_gpu_j"):
        print(df.pivot(index="workload.gpus", columns="policy", values=metric)[POLICIES], "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
    for ax, metric, label in zip(axes, ("iteration_s", "network_energy_per_gpu_j"),
                                 ("iteration (s)", "network energy per GPU, iteration (J)")):
        for policy in POLICIES:
            g = df[df["policy"] == policy]
            ax.plot(g["workload.gpus"], g[metric], marker="o", label=policy)
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
        ax.set(xlabel="GPUs", ylabel=label, xticks=gpus, xticklabels=gpus)
    axes[1].legend(title="scale-out")
    fig.savefig(out)
    print(f"figure -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
