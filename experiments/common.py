"""What every figure script shares: the plot style, and writing results/<name>/ atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sim import io  # noqa: E402
from sim.phy import registry  # noqa: E402

STYLE = Path(__file__).with_name("style") / "paper.mplstyle"

# Technologies are told apart by line style and marker too, not by colour alone. Both tables
# are views of the technology registry (sim/phy/registry.py): each entry carries its
# colour, line style and marker, and a policy is drawn like its first technology
# (copper-first like copper-dac, pluggable like pluggable-dsp).
TECH_STYLE = registry.View(lambda: {t.name: t.style for t in registry.entries()})
POLICY_STYLE = registry.View(lambda: {name: registry.get(techs[0]).style
                                      for name, techs in registry.policies().items()})


def apply_style() -> None:
    plt.style.use(STYLE)


@dataclass
class Check:
    """A published number next to ours: what a figure prints."""

    claim: str
    published: float
    ours: float
    unit: str = ""
    source: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.published if self.published else float("nan")

    def line(self) -> str:
        return (f"{self.claim}: published {self.published:g}{self.unit}, ours {self.ours:.4g}"
                f"{self.unit}, ours/published {self.ratio:.3f}")


@dataclass
class FigureResult:
    name: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # stem -> matplotlib Figure
    checks: list[Check] = field(default_factory=list)
    parameters: Any = None
    config: Any = None
    notes: list[str] = field(default_factory=list)
    out: Path | None = None          # where it was written, if it was


def save(result: FigureResult, out_dir: str | Path) -> Path:
    """Write tables (Parquet), figures (PDF + PNG) and manifest.json into ``out_dir`` atomically."""
    githash = io.git_hash() or "unknown"
    with io.ResultDir(out_dir) as rd:
        for stem, df in result.tables.items():
            df.to_parquet(rd / f"{stem}.parquet", index=False)
        for stem, fig in result.figures.items():
            fig.savefig(rd / f"{stem}.pdf", metadata={"Subject": f"cposim {githash}",
                                                      "CreationDate": None})
            fig.savefig(rd / f"{stem}.png", metadata={"Software": f"cposim {githash}"})
            plt.close(fig)
        man = io.manifest(result.name, parameters=result.parameters, config=result.config,
                          checks=[dict(claim=c.claim, published=c.published, ours=c.ours,
                                       ratio=c.ratio, unit=c.unit, source=c.source)
                                  for c in result.checks],
                          files=sorted(p.name for p in rd.stage.iterdir()) + ["manifest.json"],
                          notes=result.notes)
        io.write_json(man, rd / "manifest.json")
    return Path(out_dir)
