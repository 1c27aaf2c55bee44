"""Export verification: an exported network against the PyTorch model it came from, output by output.

The error of one output is ``max |exported - torch| / max |torch|`` (the largest absolute difference
relative to the output's largest magnitude), measured on a batch the exported file runs exactly as
the predictor will. Each precision has its bound (:data:`ERROR_BOUNDS`); beyond it the export is
refused and nothing is written.

The reduced-precision bounds are sanity checks against a broken conversion, not accuracy claims
(accuracy is keypoint AP, measured by ``benchmarks/bench_export.py``). Worst output measured here: fp16
weights (OpenVINO) 7e-4 to 9e-4 (random-weight XS and tiny networks); bf16 inference 8e-3 to 1.2e-2 on
those, 0.14 on the stride-4 output of a trained network fed random inputs;
int8 on calibration images 0.07 to 0.27 (onnxruntime 0.07, OpenVINO 0.27 on a trained network whose AP
moved by less than 1 point). A broken conversion is off by the whole output (error ~1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["ERROR_BOUNDS", "OutputErrors", "compare_outputs", "relative_error"]

ERROR_BOUNDS: Mapping[str, float] = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 0.3, "int8": 0.5}

Runner = Callable[[np.ndarray], Sequence[np.ndarray]]


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """``max |got - expected| / max |expected|`` (NaN-safe: a NaN anywhere gives ``inf``)."""
    if got.shape != expected.shape:
        raise ValueError(f"shape {list(got.shape)} against {list(expected.shape)}")
    if not expected.size:
        return 0.0
    diff = float(np.abs(got.astype(np.float64) - expected.astype(np.float64)).max())
    scale = max(float(np.abs(expected).max()), 1e-12)
    error = diff / scale
    return error if np.isfinite(error) else float("inf")


@dataclass(frozen=True)
class OutputErrors:
    """The relative error of each output (name -> error), the bound applied and what the inputs were."""

    errors: Mapping[str, float]
    bound: float
    inputs: str

    @property
    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def ok(self) -> bool:
        return self.worst <= self.bound

    def describe(self) -> str:
        each = ", ".join(f"{name} {err:.1e}" for name, err in self.errors.items())
        return f"max relative error vs PyTorch: {each} (bound {self.bound:.0e}, {self.inputs})"


def compare_outputs(run: Callable[[np.ndarray], Sequence[np.ndarray]], module: nn.Module,
                    batches: Sequence[np.ndarray], *, names: Sequence[str], bound: float,
                    inputs: str) -> OutputErrors:
    """Run ``batches`` through ``run`` (the exported network) and ``module`` (PyTorch, eval mode, fp32);
    return the worst relative error of each output over the batches.

    ``module`` is put back in the train/eval mode it was in.

    Raises:
        ValueError: the exported network returns another number of outputs or other shapes.
    """
    worst = dict.fromkeys(names, 0.0)
    was_training = module.training
    module.eval()
    try:
        for batch in batches:
            got = list(run(batch))
            with torch.inference_mode():
                expected = [t.float().cpu().numpy() for t in module(torch.from_numpy(batch))]
            if len(got) != len(expected) or len(got) != len(names):
                raise ValueError(f"the exported network returns {len(got)} outputs, PyTorch {len(expected)}")
            for name, g, e in zip(names, got, expected, strict=True):
                try:
                    worst[name] = max(worst[name], relative_error(np.asarray(g), e))
                except ValueError as err:
                    raise ValueError(f"output {name}: {err} (exported against PyTorch)") from None
    finally:
        module.train(was_training)
    return OutputErrors(worst, bound, inputs)
