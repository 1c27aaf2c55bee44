"""StepChecks: the batched host checks that CUDA runs use (forced here on the CPU by a longer interval)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from litepose.training import loop as L
from litepose.training import trainer as T
from litepose.training.checkpoint import load_training_checkpoint
from litepose.training.config import load_config


def test_checks_record_without_sync_and_report_the_first_bad_step() -> None:
    checks = L.StepChecks(torch.device("cpu"), interval=3, budget_progress=lambda: 0.5)
    for step, value in enumerate([1.0, float("inf"), float("nan")], start=1):
        checks.record(torch.tensor(value), step)
    assert checks.due
    verdict = checks.agree()
    assert verdict == L.Verdict(progress=0.5, diverged_at=2) and not verdict.budget_exhausted
    assert not checks.due and L.StepChecks(torch.device("cpu"), 1, None).agree() == L.Verdict(None, None)


def test_cuda_style_interval_checks_every_n_steps_and_still_stops_before_saving(
        tmp_path: Path, tiny_overrides: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(L.StepChecks, "for_device",
                        classmethod(lambda cls, device, progress: cls(device, 3, progress)))
    agreed: list[int] = []
    real_agree = L.StepChecks.agree

    def counting_agree(self: L.StepChecks) -> L.Verdict:
        agreed.append(self.unchecked)
        return real_agree(self)

    monkeypatch.setattr(L.StepChecks, "agree", counting_agree)
    calls = {"n": 0}
    real_forward = T.LitePoseLoss.forward

    def poisoned(self: T.LitePoseLoss, *args: object) -> object:
        out = real_forward(self, *args)
        calls["n"] += 1
        return out._replace(total=out.total * float("nan")) if calls["n"] == 13 else out

    monkeypatch.setattr(T.LitePoseLoss, "forward", poisoned)
    out = tmp_path / "run"
    cfg = load_config(None, tiny_overrides(out, **{"optim.batch_size": 1, "optim.epochs": 3}))
    with pytest.raises(T.TrainingDiverged, match=r"epoch 2, step 13"):
        T.fit(cfg, log=lambda _m: None, progress=False)
    # epoch 1: checks after steps 3 and 6, then the last 2 before the checkpoint; epoch 2: step 11, then the
    # check at the 14th forward finds the non-finite 13th (its update was applied, but never saved)
    assert agreed == [3, 3, 2, 3, 3]
    kept = load_training_checkpoint(out / "last.pt")
    assert kept["epoch"] == 1 and kept["global_step"] == 8
