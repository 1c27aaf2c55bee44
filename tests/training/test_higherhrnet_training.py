"""The HigherHRNet family through the trainer: training, its checkpoint, and use as a distillation teacher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

import litepose
from litepose.models.higherhrnet import HigherHRNet
from litepose.training import trainer as T
from litepose.training.config import load_config
from litepose.training.metrics_log import read_csv

Overrides = Callable[..., list[str]]


def test_train_a_higherhrnet_then_distil_litepose_from_it(tmp_path: Path, tiny_overrides: Overrides) -> None:
    torch.set_num_threads(1)
    lines: list[str] = []
    out = tmp_path / "hrnet"
    result = T.fit(load_config(None, tiny_overrides(out, **{"model.arch": "scaled-higherhrnet-shrink3",
                                                             "optim.epochs": 1})), log=lines.append, progress=False)
    assert any(ln.startswith("training scaled-higherhrnet-shrink3 (7.38M params") for ln in lines), lines
    raw = torch.load(result.last, weights_only=True)
    assert raw["family"] == "higherhrnet" and raw["arch"]["name"] == "scaled-higherhrnet-shrink3"
    teacher = litepose.load(result.last)
    assert isinstance(teacher, HigherHRNet) and teacher.spec.input_size == 64  # the training input is recorded
    assert read_csv(out / "metrics.csv")[-1]["heatmap"] > 0

    student = tmp_path / "student"
    lines.clear()
    T.fit(load_config(None, tiny_overrides(student, **{"model.arch": "litepose-xs", "model.width": 0.5,
                                                        "optim.epochs": 1, "distill.teacher": result.last})),
          log=lines.append, progress=False)
    assert any("distilling from" in ln and "input 64" in ln for ln in lines), lines
    assert read_csv(student / "metrics.csv")[-1]["distill"] > 0
