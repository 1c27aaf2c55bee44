"""Where a search's accuracies and latencies come from, chosen by name and imported only when used.

Evaluators (``SearchConfig.evaluator``, ``litepose search --evaluator``):

* ``supernet``: AP (pycocotools) of the supernet's sub-network after BatchNorm recalibration, by
  ``litepose.search.candidates.build_evaluator(cfg, supernet_path, *, info)``.
* ``proxy``: :func:`litepose.search.proxy.proxy_fitness`, a deterministic synthetic fitness for dry
  runs (budgets, outputs, torchrun set-ups); **not AP**, and labelled so everywhere.

Latency (``constraint.kind: latency``) is measured by :mod:`litepose.export.latency` (whole networks on
this machine, or a per-block table measured on the target device); this module imports it only when
a latency budget is asked for, and says in one line when it is missing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litepose.models.spec import ArchSpec
from litepose.search.config import SearchConfig
from litepose.search.proxy import PROXY_METRIC, ProxyEvaluator
from litepose.search.sharding import Evaluator

__all__ = ["EVALUATORS", "check_evaluator_inputs", "make_evaluator", "make_latency", "shared_latency"]

#: Evaluator name -> what it measures (the CLI's help and the search's metric label).
EVALUATORS: dict[str, str] = {
    "supernet": "AP of the supernet's sub-network after BN recalibration",
    "proxy": "deterministic synthetic fitness for dry runs (not AP)",
}

_LATENCY_MODULE = "litepose.export.latency"


def check_evaluator_inputs(cfg: SearchConfig, supernet: str | Path | None) -> None:
    """The files the evaluator will read exist (checked before any work); one line naming the option."""
    if cfg.evaluator != "supernet":
        return
    if supernet is None:
        raise ValueError("--supernet CKPT is required with --evaluator supernet (or use --evaluator proxy for a "
                         "dry run with a synthetic fitness)")
    if not Path(supernet).is_file():
        raise ValueError(f"--supernet {supernet}: no such file")
    data = cfg.data
    for key in ("calib_ann", "calib_images", "val_ann", "val_images"):
        value = getattr(data, key)
        if value is None:
            raise ValueError(f"data.{key} is required with --evaluator supernet (candidates are recalibrated on "
                             "data.calib_* and scored on data.val_*)")
        exists = Path(value).is_dir() if key.endswith("images") else Path(value).is_file()
        if not exists:
            raise ValueError(f"data.{key} {value}: no such {'folder' if key.endswith('images') else 'file'}")


def make_evaluator(cfg: SearchConfig, supernet: str | Path | None, *, info: Any) -> tuple[Evaluator, str]:
    """This process's evaluator for ``cfg.evaluator`` and the name of what it measures."""
    if cfg.evaluator == "proxy":
        return ProxyEvaluator(cfg.space.build()), PROXY_METRIC
    from litepose.search.candidates import build_evaluator  # the supernet evaluator: imported only when used

    return build_evaluator(cfg, supernet, info=info), "AP"


def make_latency(cfg: SearchConfig) -> Callable[[ArchSpec], float]:
    """Milliseconds of a sub-network under ``cfg.constraint`` (backend, table, decoding of
    ``num_people`` if ``include_decode``), from :mod:`litepose.export.latency`; one line when that
    module, its backend or the table is unavailable."""
    if importlib.util.find_spec(_LATENCY_MODULE) is None:
        raise ValueError(f"constraint.kind latency needs {_LATENCY_MODULE}, which this installation lacks; "
                         "budget MACs or params instead (--budget-macs, --budget-params)")
    module = importlib.import_module(_LATENCY_MODULE)
    c = cfg.constraint
    try:
        model = module.make_latency_model(c.backend, table=c.latency_table,
                                          people=c.num_people if c.include_decode else None)
    except ValueError as err:
        table = f", constraint.latency_table={c.latency_table}" if c.latency_table else ""
        raise ValueError(f"latency (constraint.backend={c.backend}{table}): {err}") from None
    joints = cfg.space.num_keypoints

    def latency(spec: ArchSpec) -> float:
        return float(model.predict_ms(spec, joints))

    return latency


def shared_latency(measure: Callable[[ArchSpec], float], *, is_main: bool,
                   broadcast: Callable[[Any], Any]) -> Callable[[ArchSpec], float]:
    """``measure`` on rank 0 only, its value broadcast to every process.

    A measured latency differs a little from process to process (and processes timing at once slow each
    other down); every process must take the same accept/reject decisions, so only rank 0 measures.
    A failure on rank 0 reaches every process.
    """

    def latency(spec: ArchSpec) -> float:
        value: float | None = None
        error = None
        if is_main:
            try:
                value = float(measure(spec))
            except Exception as err:  # every process must reach the broadcast
                error = f"{type(err).__name__}: {err}"
        value, error = broadcast((value, error))
        if error is not None:
            raise RuntimeError(f"latency of {spec.name} (measured on process 0): {error}")
        return float(value)  # type: ignore[arg-type]

    return latency
