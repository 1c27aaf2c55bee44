"""Run logs: ``steps.csv`` (every ``log_interval`` steps), ``metrics.csv`` (one row per epoch),
TensorBoard scalars when the ``tensorboard`` package is installed, and ``curves.png`` redrawn after
every epoch (matplotlib with the Agg canvas; no display needed, the global backend is left alone).

All files are rewritten atomically. After ``--resume`` rows written after the checkpoint (by the run
that was killed) are dropped, so the logs read as one uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from litepose.io import atomic_open, atomic_write_text

__all__ = ["MetricsLogger", "plot_curves", "read_csv"]

STEPS_CSV = "steps.csv"
EPOCHS_CSV = "metrics.csv"
CURVES_PNG = "curves.png"


def read_csv(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV log with numbers parsed back to float (empty cells become ``None``)."""
    p = Path(path)
    if not p.is_file():
        return []
    rows = []
    with p.open(newline="") as fh:
        for row in csv.DictReader(fh):
            parsed: dict[str, Any] = {}
            for k, v in row.items():
                if v is None or v == "":
                    parsed[k] = None
                    continue
                try:
                    parsed[k] = float(v)
                except ValueError:
                    parsed[k] = v
            rows.append(parsed)
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    atomic_write_text(path, buf.getvalue())


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


class MetricsLogger:
    """Collects step and epoch metrics of one run and keeps the files in ``run_dir`` up to date.

    Args:
        run_dir: the run folder.
        enabled: ``False`` on non-main processes (nothing is written).
        resume_epoch: completed epochs at the checkpoint being resumed (rows beyond it are dropped).
        resume_step: global step at that checkpoint.
        tensorboard: write TensorBoard scalars when ``torch.utils.tensorboard`` can be imported.
    """

    def __init__(self, run_dir: str | Path, *, enabled: bool = True, resume_epoch: int | None = None,
                 resume_step: int | None = None, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.step_rows: list[dict[str, Any]] = []
        self.epoch_rows: list[dict[str, Any]] = []
        self._tb: Any = None
        if not enabled:
            return
        if resume_epoch is not None:
            self.epoch_rows = [r for r in read_csv(self.run_dir / EPOCHS_CSV)
                               if r.get("epoch") is not None and r["epoch"] <= resume_epoch]
            self.step_rows = [r for r in read_csv(self.run_dir / STEPS_CSV)
                              if r.get("step") is not None and r["step"] <= (resume_step or 0)]
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                self._tb = None
            else:
                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"),
                                         purge_step=resume_step if resume_step else None)

    @property
    def tensorboard_enabled(self) -> bool:
        return self._tb is not None

    def log_step(self, step: int, values: Mapping[str, Any]) -> None:
        """One row of ``steps.csv`` (written with the next :meth:`flush`)."""
        if not self.enabled:
            return
        self.step_rows.append({"step": step, **values})
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self._tb.add_scalar(f"step/{k}", v, step)

    def log_epoch(self, epoch: int, values: Mapping[str, Any]) -> None:
        """One row of ``metrics.csv`` (``epoch`` = completed epochs); rewrites the files and the plot.

        Values for an epoch that already has a row are merged into it (e.g. a late validation).
        """
        if not self.enabled:
            return
        for row in self.epoch_rows:
            if row.get("epoch") == epoch:
                row.update(values)
                break
        else:
            self.epoch_rows.append({"epoch": epoch, **values})
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and v is not None:
                    self._tb.add_scalar(f"epoch/{k}", v, epoch)
            self._tb.flush()
        self.flush()
        plot_curves(self.epoch_rows, self.step_rows, self.run_dir / CURVES_PNG)

    def flush(self) -> None:
        if not self.enabled:
            return
        if self.step_rows:
            _write_csv(self.run_dir / STEPS_CSV, self.step_rows)
        if self.epoch_rows:
            _write_csv(self.run_dir / EPOCHS_CSV, self.epoch_rows)

    def close(self) -> None:
        self.flush()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _series(rows: list[dict[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        vx, vy = r.get(x), r.get(y)
        if isinstance(vx, (int, float)) and isinstance(vy, (int, float)) and math.isfinite(vy):
            xs.append(float(vx))
            ys.append(float(vy))
    return xs, ys


def plot_curves(epoch_rows: list[dict[str, Any]], step_rows: list[dict[str, Any]], path: str | Path) -> None:
    """Draw training loss (per step and per epoch, with its parts), learning rate and validation AP."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_lr, ax_ap = fig.subplots(1, 3)

    steps_per_epoch = None
    if epoch_rows and step_rows:
        last = epoch_rows[-1]
        if isinstance(last.get("global_step"), (int, float)) and last["epoch"]:
            steps_per_epoch = last["global_step"] / last["epoch"]
    if step_rows and steps_per_epoch:
        xs, ys = _series(step_rows, "step", "loss")
        ax_loss.plot([x / steps_per_epoch for x in xs], ys, color="0.75", lw=0.8, label="loss (steps)")
    for key, style in (("loss", "-"), ("heatmap", "--"), ("push", ":"), ("pull", ":"), ("distill", "-.")):
        xs, ys = _series(epoch_rows, "epoch", key)
        if xs and any(v > 0 for v in ys):
            ax_loss.plot(xs, ys, style, marker="o" if len(xs) < 30 else None, ms=3, label=key)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_title("training loss")
    if ax_loss.lines:
        ax_loss.legend(fontsize=8)

    xs, ys = _series(step_rows, "step", "lr")
    if xs and steps_per_epoch:
        ax_lr.plot([x / steps_per_epoch for x in xs], ys)
    else:
        xs, ys = _series(epoch_rows, "epoch", "lr")
        ax_lr.plot(xs, ys, marker="o")
    ax_lr.set_xlabel("epoch")
    ax_lr.set_title("learning rate")

    for key in ("val_AP", "val_AP50", "val_AR"):
        xs, ys = _series(epoch_rows, "epoch", key)
        if xs:
            ax_ap.plot(xs, ys, marker="o", ms=3, label=key.removeprefix("val_"))
    if epoch_rows:
        last_epoch = max(float(r["epoch"]) for r in epoch_rows if isinstance(r.get("epoch"), (int, float)))
        for ax in (ax_lr, ax_ap):
            ax.set_xlim(0, max(1.0, last_epoch) * 1.02)
    ax_ap.set_xlabel("epoch")
    ax_ap.set_title("validation")
    ax_ap.set_ylim(0, 1)
    if ax_ap.lines:
        ax_ap.legend(fontsize=8)
    for ax in (ax_loss, ax_lr, ax_ap):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png")
