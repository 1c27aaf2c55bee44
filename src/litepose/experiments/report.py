"""An experiment's report: per-variant summaries, the paper's ordering against the one measured, tables
(Markdown, CSV, JSON) and a figure (AP against MACs and against latency, PNG).

AP is the mean over seeds with the **spread** = half the range (for two seeds, each run lies exactly
``spread`` from the mean). An ordering "reproduces" when the variants the paper rates rank the same
by mean AP here; the report also says which neighbours in that ranking are closer than their spreads
(a difference the seeds do not resolve).
"""

from __future__ import annotations

import csv
import io
import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from litepose.experiments.design import Experiment
from litepose.experiments.runner import RunResult
from litepose.io import atomic_open, atomic_write_json, atomic_write_text

__all__ = ["ordering", "plot_experiment", "summarise", "write_report"]


def _exported(latency: Mapping[str, Any]) -> tuple[str, float] | None:
    """The fastest exported backend and its median ms (``None`` when none was timed)."""
    timed = [(b, float(r["median_ms"])) for b, r in latency.items() if b != "torch" and "median_ms" in r]
    return min(timed, key=lambda t: t[1]) if timed else None


def summarise(experiment: Experiment, runs: Mapping[str, Sequence[RunResult]],
              measured: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant: AP over seeds, complexity, latency, the paper's numbers."""
    rows = []
    for v in experiment.variants:
        done = [r for r in runs.get(v.key, ()) if r.ap is not None]
        aps = [float(r.ap) for r in done if r.ap is not None]
        m = measured[v.key]
        torch_ms = m["latency"].get("torch", {}).get("median_ms")
        exported = _exported(m["latency"])
        rows.append({
            "key": v.key, "label": v.label, "arch": v.spec.name,
            "seeds": len(aps), "diverged": sum(r.ap is None for r in runs.get(v.key, ())),
            "ap_mean": statistics.fmean(aps) if aps else None,
            "ap_spread": (max(aps) - min(aps)) / 2 if aps else None,
            "ap_runs": aps,
            "ap50_mean": statistics.fmean(r.metrics["AP50"] for r in done if r.metrics) if done else None,
            "epochs_mean": statistics.fmean(r.epochs for r in done) if done else None,
            "params": m["params"], "gmacs_paper": m["macs_paper"] / 1e9, "gmacs": m["macs"] / 1e9,
            "latency_size": m["latency_size"],
            "torch_ms": torch_ms,
            "torch_contended": m["latency"].get("torch", {}).get("contended"),
            "backend_ms": {b: float(r["median_ms"]) for b, r in m["latency"].items() if "median_ms" in r},
            "exported_backend": exported[0] if exported else None,
            "exported_ms": exported[1] if exported else None,
            "paper_ap": v.paper_ap, "paper_gmacs": v.paper_gmacs,
        })
    return rows


def ordering(experiment: Experiment, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The paper's AP ranking against the measured one, over the variants the paper rates."""
    paper = list(experiment.paper_order)
    by_key = {r["key"]: r for r in rows}
    rated = [by_key[k] for k in paper if by_key[k]["ap_mean"] is not None]
    measured = [r["key"] for r in sorted(rated, key=lambda r: -r["ap_mean"])]
    unresolved = []
    for a, b in itertools.pairwise(measured):
        ra, rb = by_key[a], by_key[b]
        if ra["ap_mean"] - rb["ap_mean"] <= (ra["ap_spread"] or 0.0) + (rb["ap_spread"] or 0.0):
            unresolved.append([a, b])
    complete = len(rated) == len(paper)
    # strictly: equal means do not reproduce an ordering
    strictly = all(by_key[a]["ap_mean"] > by_key[b]["ap_mean"] for a, b in itertools.pairwise(paper)) if complete \
        else False
    return {"paper": paper, "measured": measured, "reproduced": strictly, "complete": complete,
            "within_spread": unresolved}


def _fmt(value: float | None, spec: str, empty: str = "–") -> str:
    return empty if value is None else format(value, spec)


def _markdown(experiment: Experiment, rows: Sequence[Mapping[str, Any]], order: Mapping[str, Any],
              settings: Mapping[str, Any]) -> str:
    size = rows[0]["latency_size"] if rows else settings.get("latency_size")
    exported = _exported_names(rows)
    head = ["variant", "params", f"GMACs (paper) @{size}", f"GMACs (true) @{size}", f"torch ms @{size}"]
    head += [f"{b} ms @{size}" for b in exported]
    head += ["AP (mean ± spread)", "AP50", "seeds", "paper AP", "paper GMACs"]
    lines = [f"# {experiment.title}", "", f"Paper: {experiment.claim}.", "",
             "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        ap = "–" if r["ap_mean"] is None else f"{r['ap_mean']:.3f} ± {r['ap_spread']:.3f}"
        torch_ms = _fmt(r["torch_ms"], ".1f") + (" (contended)" if r["torch_contended"] else "")
        cells = [r["label"], f"{r['params'] / 1e6:.2f}M", f"{r['gmacs_paper']:.2f}", f"{r['gmacs']:.2f}", torch_ms]
        cells += [_fmt(r["backend_ms"].get(b), ".1f") for b in exported]
        seeds = str(r["seeds"]) + (f" ({r['diverged']} diverged)" if r["diverged"] else "")
        cells += [ap, _fmt(r["ap50_mean"], ".3f"), seeds, _fmt(r["paper_ap"], ".1f"), _fmt(r["paper_gmacs"], ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    label = {r["key"]: r["label"].split(" ")[0] if experiment.name == "shrinking" else r["label"] for r in rows}
    mean = {r["key"]: r["ap_mean"] for r in rows}
    here = label[order["measured"][0]] if order["measured"] else "(no AP)"
    for a, b in itertools.pairwise(order["measured"]):
        here += f" {'=' if mean[a] == mean[b] else '>'} {label[b]}"
    lines += ["", f"Ordering by AP: paper {' > '.join(label[k] for k in order['paper'])}; here {here} — "
              + ("**reproduced**" if order["reproduced"] else "**not reproduced**")
              + ("" if order["complete"] else " (runs missing)")
              + ("." if not order["within_spread"] else "; closer than their seed spread: "
                 + ", ".join(f"{label[a]} / {label[b]}" for a, b in order["within_spread"]) + ".")]
    if experiment.exported_latency and len(rows) == 2:
        a, b = rows
        parts = [f"{a['label']} has {a['gmacs_paper'] / b['gmacs_paper']:.2f}x the MACs of {b['label']}"]
        if a["torch_ms"] and b["torch_ms"]:
            parts.append(f"{a['torch_ms'] / b['torch_ms']:.2f}x its latency on torch")
        if a["exported_ms"] and b["exported_ms"]:
            parts.append(f"{a['exported_ms'] / b['exported_ms']:.2f}x on {a['exported_backend']}"
                         + ("" if a["exported_backend"] == b["exported_backend"] else f"/{b['exported_backend']}"))
        lines += ["", "Latency: " + ", ".join(parts) + "."]
    lines += ["", f"AP: pycocotools COCOeval on the held-out set ({settings.get('val_ann')}), flip test; each run "
              f"trained {_budget(settings)} (seeds 0..{int(settings.get('seeds', 1)) - 1}); spread = half "
              f"the range over seeds. Latency: median of {settings.get('latency_repeats')} calls at batch 1, "
              f"{size}x{size}, on this machine's CPU, each variant in a fresh process"
              + ("; (contended): other processes competed for the cores while it was timed" if
                 any(r["torch_contended"] for r in rows) else "") + ". "
              "The paper's AP is CrowdPose test after full training: compare orderings, not values.", ""]
    return "\n".join(lines)


def _exported_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The exported backends timed for any variant, in a stable order."""
    return sorted({b for r in rows for b in r["backend_ms"] if b != "torch"})


def _budget(settings: Mapping[str, Any]) -> str:
    """The training budget of each run in words ("6 min", "5 epochs", "6 min or 5 epochs")."""
    parts = [f"{settings['minutes']:g} min"] if settings.get("minutes") is not None else []
    parts += [f"{settings['epochs']} epochs"] if settings.get("epochs") is not None else []
    return " or ".join(parts) or "?"


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    exported = [f"{b}_ms" for b in _exported_names(rows)]
    fields = ["key", "label", "arch", "params", "gmacs_paper", "gmacs", "latency_size", "torch_ms", *exported,
              "exported_backend", "exported_ms", "ap_mean", "ap_spread", "ap50_mean", "seeds", "diverged",
              "epochs_mean", "paper_ap", "paper_gmacs"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        flat = {**r, **{f"{b}_ms": ms for b, ms in r["backend_ms"].items()}}
        writer.writerow({k: ("" if flat.get(k) is None else flat[k]) for k in fields})
    return buffer.getvalue()


def plot_experiment(experiment: Experiment, rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """AP (mean ± spread) against paper-convention MACs and against latency, one point per variant."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax_macs, ax_ms = fig.subplots(1, 2)
    scored = [(f"C{i % 10}", r) for i, r in enumerate(rows) if r["ap_mean"] is not None]  # one colour per variant
    for colour, r in scored:
        ax_macs.errorbar(r["gmacs_paper"], r["ap_mean"], yerr=r["ap_spread"], fmt="o", capsize=4, color=colour)
        ax_macs.annotate(r["label"], (r["gmacs_paper"], r["ap_mean"]), textcoords="offset points", xytext=(5, 5),
                         fontsize=8)
        timed = [(ms, marker, backend) for ms, marker, backend in
                 ((r["torch_ms"], "o", "torch"), (r["exported_ms"], "s", r["exported_backend"])) if ms is not None]
        for n, (ms, marker, backend) in enumerate(timed):
            # the variant is named once, in the legend; each point says its backend (long labels collided)
            ax_ms.errorbar(ms, r["ap_mean"], yerr=r["ap_spread"], fmt=marker, capsize=4, color=colour,
                           mfc="none" if backend != "torch" else colour, label=r["label"] if n == 0 else None)
            ax_ms.annotate(backend, (ms, r["ap_mean"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    size = rows[0]["latency_size"] if rows else "?"
    ax_macs.set_xlabel(f"GMACs (paper convention) at {size}x{size}")
    ax_ms.set_xlabel(f"latency (ms, batch 1, {size}x{size}, this CPU)")
    for ax in (ax_macs, ax_ms):
        ax.set_ylabel("AP (mean ± spread over seeds)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.25, y=0.2)
    if scored:
        ax_ms.legend(fontsize=8, loc="best")
    else:
        for ax in (ax_macs, ax_ms):
            ax.text(0.5, 0.5, "no finished run", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(experiment.title)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png")


def write_report(experiment: Experiment, runs: Mapping[str, Sequence[RunResult]],
                 measured: Mapping[str, Mapping[str, Any]], out: str | Path, *,
                 settings: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``results.md``, ``results.csv``, ``results.json`` and ``plot.png`` into ``out``; return the report."""
    out = Path(out)
    rows = summarise(experiment, runs, measured)
    order = ordering(experiment, rows)
    report = {"experiment": experiment.name, "title": experiment.title, "claim": experiment.claim,
              "settings": dict(settings), "variants": rows, "ordering": order,
              "runs": {k: [asdict(r) for r in rs] for k, rs in runs.items()},
              "measurements": {k: dict(m) for k, m in measured.items()}}
    atomic_write_text(out / "results.md", _markdown(experiment, rows, order, settings))
    atomic_write_text(out / "results.csv", _csv(rows))
    atomic_write_json(out / "results.json", report, indent=2)
    plot_experiment(experiment, rows, out / "plot.png")
    return report
