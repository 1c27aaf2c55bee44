"""An accuracy predictor on architecture encodings (once-for-all style), to pre-screen children.

Evaluating a candidate (BN recalibration + a validation pass) costs seconds to minutes; predicting its
accuracy from its genes costs microseconds. Once enough candidates are evaluated, a small MLP is fitted
to them and the search proposes more children than it evaluates, keeping those predicted best. How far
to trust it is measured, not assumed: part of the evaluated candidates is held out and Kendall's τ
between predicted and measured accuracy on them is reported each generation.

Encodings (``PredictorConfig.encoding``): ``onehot`` (each gene one-hot over its choices, as
once-for-all), ``widths`` (each width and the resolution as a fraction of its maximum), or ``both``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import kendalltau
from torch import nn

from litepose.export.runners import pinned_torch_threads
from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec
from litepose.search.config import PredictorConfig

__all__ = ["AccuracyPredictor", "PredictorFit"]


@dataclass(frozen=True)
class PredictorFit:
    """How a fit went: Kendall's τ (and its p-value) between predicted and measured accuracy on the
    held-out candidates; NaN when they cannot be ranked (fewer than two, or all equal)."""

    tau: float
    p_value: float
    n_train: int
    n_holdout: int


class AccuracyPredictor:
    """A two-hidden-layer MLP from an architecture's encoding to its accuracy.

    Args:
        space: the search space (the one-hot sizes and the maxima of the widths).
        config: predictor options.
        seed: seeds the train/hold-out split and the weights, so a fit is reproducible (a resumed
            search refits exactly as the run it continues).
    """

    def __init__(self, space: SearchSpace, config: PredictorConfig, seed: int = 0) -> None:
        self.space = space
        self.config = config
        self.seed = seed
        self._model: nn.Module | None = None
        self._mean = 0.0
        self._std = 1.0

    @property
    def fitted(self) -> bool:
        return self._model is not None

    def encode(self, specs: Sequence[ArchSpec]) -> np.ndarray:
        """``[N, D]`` float32 encodings of ``specs``."""
        return np.stack([self._encode_one(s) for s in specs]).astype(np.float32)

    def _encode_one(self, spec: ArchSpec) -> np.ndarray:
        parts: list[np.ndarray] = []
        if self.config.encoding in ("onehot", "both"):
            genes = self.space.encode(spec)
            n_res, n_width = len(self.space.resolutions), len(self.space.width_multipliers)
            for index, size in ((genes.resolution, n_res), (genes.stem, n_width),
                                *((g, n_width) for g in (*genes.stages, *genes.deconvs))):
                hot = np.zeros(size)
                hot[index] = 1.0
                parts.append(hot)
        if self.config.encoding in ("widths", "both"):
            top = self.space.maximum
            parts.append(np.array([
                spec.input_size / max(self.space.resolutions), spec.stem_channels / top.stem_channels,
                *(s.channels / t.channels for s, t in zip(spec.stages, top.stages, strict=True)),
                *(c / t for c, t in zip(spec.deconv_channels, top.deconv_channels, strict=True))]))
        return np.concatenate(parts)

    def fit(self, specs: Sequence[ArchSpec], accuracies: Sequence[float]) -> PredictorFit:
        """Fit on ``specs`` minus a held-out fraction; report Kendall's τ on the held-out part."""
        if len(specs) != len(accuracies):
            raise ValueError(f"{len(specs)} architectures but {len(accuracies)} accuracies")
        if len(specs) < 4:
            raise ValueError(f"the predictor needs at least 4 evaluated candidates, got {len(specs)}")
        x = self.encode(specs)
        y = np.asarray(accuracies, dtype=np.float64)
        order = np.random.default_rng(self.seed).permutation(len(specs))
        n_holdout = min(len(specs) - 2, max(2, round(self.config.holdout * len(specs))))
        held, train = order[:n_holdout], order[n_holdout:]
        self._mean = float(y[train].mean())
        self._std = float(y[train].std()) or 1.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = nn.Sequential(nn.Linear(x.shape[1], self.config.hidden), nn.ReLU(),
                                  nn.Linear(self.config.hidden, self.config.hidden), nn.ReLU(),
                                  nn.Linear(self.config.hidden, 1))
        inputs = torch.from_numpy(x[train])
        targets = torch.from_numpy(((y[train] - self._mean) / self._std).astype(np.float32))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.config.lr)
        model.train()
        # One thread: tiny matrices (more threads only contend), and the same sums whatever the host's cores.
        with pinned_torch_threads(1):
            for _ in range(self.config.epochs):
                optimizer.zero_grad()
                loss = nn.functional.mse_loss(model(inputs).squeeze(1), targets)
                loss.backward()
                optimizer.step()
        model.eval()
        self._model = model
        predicted = self.predict([specs[i] for i in held])
        tau, p_value = _kendall(predicted, y[held])
        return PredictorFit(tau, p_value, len(train), len(held))

    def predict(self, specs: Sequence[ArchSpec]) -> np.ndarray:
        """Predicted accuracy of each of ``specs`` (``fit`` first)."""
        if self._model is None:
            raise RuntimeError("the predictor is not fitted yet")
        if not specs:
            return np.zeros(0)
        with torch.no_grad(), pinned_torch_threads(1):
            out = self._model(torch.from_numpy(self.encode(specs))).squeeze(1).double().numpy()
        return out * self._std + self._mean


def _kendall(predicted: np.ndarray, measured: np.ndarray) -> tuple[float, float]:
    if len(measured) < 2 or np.ptp(measured) == 0 or np.ptp(predicted) == 0:
        return float("nan"), float("nan")
    result = kendalltau(predicted, measured)
    return float(result.statistic), float(result.pvalue)
