"""What a search leaves in its output folder (every file written atomically).

* ``best_arch.json``: the best architecture in the official ``mobile_configs`` format
  (:meth:`~litepose.models.spec.ArchSpec.to_json`), ready for ``litepose train``/``extract``.
* ``candidates.csv``: every evaluated architecture: label, generation, resolution, MACs (paper and
  true), params, latency (empty when unknown), accuracy, and the official arch JSON on one line.
* ``pareto.png``: accuracy against the constrained cost, the Pareto front highlighted, the budget as
  a vertical line, the best candidate marked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from litepose.io import atomic_open, atomic_write_text
from litepose.models.space import arch_label
from litepose.search.config import CostKind
from litepose.search.constraints import Budget, cost_axis
from litepose.search.evolution import Candidate

__all__ = ["BEST_NAME", "CANDIDATES_NAME", "CSV_COLUMNS", "PARETO_NAME", "pareto_front", "plot_pareto",
           "write_best", "write_candidates_csv"]

BEST_NAME = "best_arch.json"
CANDIDATES_NAME = "candidates.csv"
PARETO_NAME = "pareto.png"
CSV_COLUMNS = ("label", "generation", "resolution", "macs_paper", "macs", "params", "latency_ms", "ap",
               "arch_json")


def write_candidates_csv(path: str | Path, candidates: Sequence[Candidate]) -> None:
    """One row per candidate, in evaluation order (``ap`` holds the evaluator's number)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in candidates:
        latency = "" if c.costs.latency_ms is None else f"{c.costs.latency_ms:.6g}"
        writer.writerow([arch_label(c.arch), c.generation, c.arch.input_size, c.costs.macs_paper, c.costs.macs,
                         c.costs.params, latency, repr(c.accuracy),
                         json.dumps(c.arch.to_official(), separators=(",", ":"))])
    atomic_write_text(path, buffer.getvalue())


def write_best(path: str | Path, best: Candidate) -> None:
    """The best architecture in the official ``mobile_configs`` JSON format."""
    best.arch.to_json(path)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, accuracy) that no other point beats: none cheaper-or-equal and more
    accurate, or cheaper and as accurate. Sorted by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_pareto(path: str | Path, candidates: Sequence[Candidate], kind: CostKind, budget: Budget, *,
                metric: str = "AP") -> None:
    """Accuracy against the constrained cost; Pareto front, budget line and best candidate marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scale, label = cost_axis(kind)
    xs = [c.costs.get(kind) / scale for c in candidates]
    ys = [c.accuracy for c in candidates]
    front = pareto_front(list(zip(xs, ys, strict=True)))
    best = max(range(len(candidates)), key=lambda i: ys[i])
    fig = Figure(figsize=(7, 4.5), dpi=110)  # its own Agg canvas: the global backend is left alone
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    points = ax.scatter(xs, ys, c=[c.generation for c in candidates], cmap="viridis", s=14, alpha=0.7,
                        label="evaluated")
    fig.colorbar(points, ax=ax, label="generation")
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "-o", color="tab:red", ms=4, lw=1.2,
            label="Pareto front")
    ax.axvline(budget.value / scale, color="black", ls="--", lw=1, label=f"budget {budget}")
    ax.scatter([xs[best]], [ys[best]], marker="*", s=180, color="gold", edgecolors="black", zorder=5,
               label=f"best {ys[best]:.4f}")
    ax.set_xlabel(label)
    ax.set_ylabel(metric)
    ax.set_title(f"{len(candidates)} candidates")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png")
