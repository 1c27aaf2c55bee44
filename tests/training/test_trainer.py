from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import litepose
from litepose.inference.predictor import Predictor
from litepose.models.zoo import create_model
from litepose.training import trainer as T
from litepose.training.checkpoint import load_training_checkpoint, save_checkpoint
from litepose.training.config import Config, ConfigError, apply_overrides, load_config
from litepose.training.metrics_log import read_csv

torch.set_num_threads(1)
Overrides = Callable[..., list[str]]


def cfg_of(overrides: list[str]) -> Config:
    return load_config(None, overrides)


def quiet(_msg: str) -> None:
    pass


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------------------------------- unit pieces
def test_lr_schedule_steps_warmup_cosine_and_scaling() -> None:
    cfg = apply_overrides(Config(), ["optim.lr=1e-3", "optim.milestones=[2,4]", "optim.epochs=6",
                                     "optim.warmup_epochs=0.5"])
    s = T.LrSchedule(cfg, steps_per_epoch=10)
    assert s.lr(0) == pytest.approx(1e-3 / 5)  # warm-up: 5 steps
    assert s.lr(0, 0.4) == pytest.approx(1e-3)
    assert s.lr(1, 0.9) == pytest.approx(1e-3)  # the rate changes only at epoch boundaries
    assert s.lr(2) == pytest.approx(1e-4)
    assert s.lr(4, 0.5) == pytest.approx(1e-5)
    # the position is in epochs: another number of steps per epoch keeps the milestones and the warm-up
    s40 = T.LrSchedule(cfg, steps_per_epoch=40)
    assert s40.lr(1, 0.99) == pytest.approx(1e-3) and s40.lr(2) == pytest.approx(1e-4)
    assert s40.lr(0, 0.5) == pytest.approx(1e-3) and s40.lr(0, 0.25) == pytest.approx(1e-3 * 11 / 20)
    # under a time budget the schedule follows the used fraction of the budget, not the position
    assert s.lr(100, progress=0.2) == pytest.approx(1e-3)  # 0.2 x 6 epochs = epoch 1.2
    assert s.lr(100, progress=0.5) == pytest.approx(1e-4)  # epoch 3
    assert s.lr(100, progress=0.9) == pytest.approx(1e-5)
    cos = T.LrSchedule(apply_overrides(cfg, ["optim.schedule=cosine", "optim.warmup_epochs=0",
                                             "optim.min_lr_ratio=0.1"]), steps_per_epoch=10)
    assert cos.lr(0) == pytest.approx(1e-3)
    assert cos.lr(3) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert cos.lr(2, 0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 2.5 / 6))))
    assert cos.lr(6) == pytest.approx(1e-4)
    assert cos.lr(0, progress=0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    ref = apply_overrides(Config(), ["optim.lr=1e-3", "optim.lr_reference_batch=32", "optim.batch_size=16"])
    assert T.scaled_lr(ref, world_size=8) == pytest.approx(4e-3)  # the repo yaml's rate at 8 x 16


def test_time_budget_stops_mid_epoch(tmp_path: Path, tiny_overrides: Overrides,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that advances 0.25 s per training forward: the 3-s budget ends at the 12th forward, which
    # is then not stepped (11 optimizer steps: 5 epochs of 2 steps and one step of the 6th).
    forwards = {"n": 0}
    real_forward = T.LitePoseLoss.forward

    def counting(self: T.LitePoseLoss, *args: object) -> object:
        forwards["n"] += 1
        return real_forward(self, *args)

    monkeypatch.setattr(T.LitePoseLoss, "forward", counting)
    out = tmp_path / "run"
    res = T.fit(cfg_of(tiny_overrides(out, val=True, **{"optim.epochs": 50, "train.time_budget_minutes": 0.05,
                                                      "train.eval_interval": 0})),
                log=quiet, progress=False, clock=lambda: 0.25 * forwards["n"])
    assert res.stopped == "time budget" and forwards["n"] == 12
    assert res.global_step == 11 and res.epochs == 6  # the cut epoch counts as the last one
    assert res.best is not None and "AP" in res.final_metrics  # validated once, at the end
    ckpt = load_training_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 6 and ckpt["global_step"] == 11 and ckpt["meta"]["budget_used_s"] == 3.0
    assert ckpt["samples_in_epoch"] == 0
    rows = read_csv(out / "steps.csv")
    # the cosine-free step schedule over the budget: 50 epochs of budget, milestone 100 never reached
    assert len(rows) == 11 and all(r["lr"] == pytest.approx(2e-3) for r in rows)


def test_warm_start_skips_head_and_reports(tmp_path: Path) -> None:
    torch.manual_seed(0)
    donor = create_model("litepose-xs", 17)
    path = tmp_path / "donor.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in donor.state_dict().items()}}, path)
    torch.manual_seed(1)
    student = create_model("litepose-xs", 14)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    report = T.warm_start_backbone(student, path)
    after = student.state_dict()
    head = [k for k in after if "deconv" in k or "final" in k]
    assert report.skipped_head == len(head) and report.loaded == len(after) - len(head)
    assert not report.skipped_shape and not report.missing_backbone
    for k, v in after.items():
        if k in head:
            assert torch.equal(v, before[k]), k  # the head keeps its own initialisation
        else:
            assert torch.equal(v, donor.state_dict()[k]), k
    narrow = create_model("litepose-xs", 14, width=0.5)
    rep2 = T.warm_start_backbone(narrow, path)
    assert rep2.skipped_shape and "different shape" in rep2.summary()


def test_failed_checkpoint_write_keeps_previous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1, "w": torch.ones(3)}, path)

    def broken_save(obj: object, f: object, *a: object, **k: object) -> None:
        f.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    again = torch.load(path, weights_only=True)
    assert again["epoch"] == 1 and torch.equal(again["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


# ---------------------------------------------------------------------------------------- runs
def test_tiny_run_loss_falls_and_checkpoint_loads(tmp_path: Path, tiny_overrides: Overrides) -> None:
    out = tmp_path / "run"
    cfg = cfg_of(tiny_overrides(out, **{
        "optim.epochs": 6, "optim.lr": 3e-3, "data.augment.max_rotation": 0, "data.augment.min_scale": 1,
        "data.augment.max_scale": 1, "data.augment.max_translate": 0, "data.augment.flip_prob": 0}))
    result = T.fit(cfg, log=quiet, progress=False)
    rows = read_csv(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    losses = [r["loss"] for r in rows]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.epochs == 6 and result.global_step == 12 and result.best is None
    for name in ("config.yaml", "last.pt", "metrics.csv", "steps.csv", "curves.png"):
        assert (out / name).is_file(), name
    assert load_config(out / "config.yaml") == cfg
    ckpt = load_training_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 6 and ckpt["global_step"] == 12 and ckpt["config"]["optim"]["epochs"] == 6
    model = litepose.load(out / "last.pt")  # a training checkpoint is a project checkpoint
    assert model.num_keypoints == 17 and model.spec.input_size == 64
    assert model.skeleton is not None and model.skeleton.name == "coco"
    out4, out2 = model(torch.zeros(1, 3, 64, 64))
    assert out4.shape == (1, 34, 16, 16) and out2.shape == (1, 17, 32, 32)


@pytest.mark.parametrize("ema_decay", [None, 0.8])
def test_resume_equals_uninterrupted(tmp_path: Path, tiny_overrides: Overrides, ema_decay: float | None) -> None:
    # N = 4 epochs (2 steps each) straight, vs 2 epochs + stop + resume + 2 epochs, with augmentation on.
    extra = {"optim.epochs": 4, "optim.milestones": [3], "optim.warmup_epochs": 0.5, "optim.grad_clip": 0.5,
             "optim.ema_decay": ema_decay}
    full = T.fit(cfg_of(tiny_overrides(tmp_path / "full", **extra)), log=quiet, progress=False)
    part_cfg = cfg_of(tiny_overrides(tmp_path / "part", **extra))
    half = T.fit(part_cfg, log=quiet, progress=False, stop_after_epochs=2)
    assert half.epochs == 2
    with pytest.raises(ConfigError, match="--resume"):
        T.fit(part_cfg, log=quiet, progress=False)  # a run folder is never silently overwritten
    torch.manual_seed(1234)  # the resumed run must not depend on the caller's RNG state
    resumed = T.fit(part_cfg, resume=tmp_path / "part" / "last.pt", log=quiet, progress=False)
    assert resumed.epochs == full.epochs == 4 and resumed.global_step == full.global_step == 8
    a = load_training_checkpoint(full.last)
    b = load_training_checkpoint(resumed.last)
    assert_same_weights(a["state_dict"], b["state_dict"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert_same_weights(sa, sb)
    rows = read_csv(tmp_path / "part" / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    if ema_decay is None:
        assert "train_state_dict" not in b and "ema" not in b
    else:  # the average is the checkpoint's model; the raw weights resume the same way
        assert_same_weights(a["train_state_dict"], b["train_state_dict"])
        assert a["ema"] == b["ema"] == {"decay": ema_decay, "updates": 8}
        key = "final_refined.0.conv.0.weight"
        assert not torch.equal(b["state_dict"][key], b["train_state_dict"][key])


def test_sigkill_then_resume_matches_uninterrupted(tmp_path: Path, tiny_overrides: Overrides) -> None:
    # A real process killed with SIGKILL mid-run (checkpoints every step, one loader worker), resumed by
    # the CLI, ends with the same weights as an uninterrupted in-process run. The child kills itself right
    # after its third checkpoint write (mid-epoch 2), so the kill lands at the same place every time.
    extra = {"optim.epochs": 3, "train.checkpoint_interval": 1, "data.workers": 1}
    full = T.fit(cfg_of(tiny_overrides(tmp_path / "full", **extra)), log=quiet, progress=False)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "litepose", "train", "--no-progress"]
    sets = [a for s in tiny_overrides(out, **extra) for a in ("--set", s)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kill_after_third = (
        "import os, signal, sys; import litepose.training.trainer as T; real = T.save_checkpoint; n = [0]\n"
        "def save(*a, **k):\n"
        "    real(*a, **k); n[0] += 1\n"
        "    if n[0] == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        "T.save_checkpoint = save\n"
        "from litepose.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", kill_after_third, "train", "--no-progress", *sets], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    killed_at = load_training_checkpoint(out / "last.pt")
    assert killed_at["global_step"] == 3 and killed_at["epoch"] == 1 and killed_at["samples_in_epoch"] == 4
    res = subprocess.run([*cmd, "--resume", str(out)], env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    done = load_training_checkpoint(out / "last.pt")
    assert done["epoch"] == 3 and done["global_step"] == 6
    assert_same_weights(load_training_checkpoint(full.last)["state_dict"], done["state_dict"])


class Interrupted(Exception):
    """Stands in for a kill right after a checkpoint write."""


def test_resume_with_another_batch_size_keeps_milestones_and_data_position(
        tmp_path: Path, tiny_overrides: Overrides, monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 images at batch 4 (2 steps per epoch), interrupted after step 3 (half-way through epoch 2), resumed
    # at batch 2 (4 steps per epoch): the LR must drop exactly at the milestone epoch 2, and the resumed
    # epoch must train on the 4 samples not seen yet, each once.
    seen: list[tuple[int, int]] = []
    real_getitem = T.EpochSeeded.__getitem__

    def spy(self: T.EpochSeeded, key: tuple[int, int]) -> object:
        seen.append(key)
        return real_getitem(self, key)

    monkeypatch.setattr(T.EpochSeeded, "__getitem__", spy)
    real_save = T.save_checkpoint

    def save_then_stop(ckpt: dict, path: Path) -> Path:
        written = real_save(ckpt, path)
        if ckpt["global_step"] == 3:
            raise Interrupted
        return written

    extra = {"optim.epochs": 4, "optim.milestones": [2], "train.checkpoint_interval": 1}
    out = tmp_path / "run"
    monkeypatch.setattr(T, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        T.fit(cfg_of(tiny_overrides(out, **extra)), log=quiet, progress=False)
    monkeypatch.setattr(T, "save_checkpoint", real_save)
    lines: list[str] = []
    res = T.fit(cfg_of(tiny_overrides(out, **extra, **{"optim.batch_size": 2})), resume=out / "last.pt",
                log=lines.append, progress=False)
    assert any("batch 2 x 1 process(es)" in ln and "sample 4" in ln for ln in lines), lines
    assert res.epochs == 4 and res.global_step == 3 + 2 + 4 + 4
    rows = read_csv(out / "steps.csv")
    assert [r["step"] for r in rows] == list(range(1, 14))
    for r in rows:  # epochs 0 and 1 at the base rate, from the milestone epoch 2 on a tenth of it
        assert r["lr"] == pytest.approx(2e-3 if r["epoch"] < 2 else 2e-4), r
    for epoch in range(4):
        assert sorted(i for e, i in seen if e == epoch) == list(range(8)), (epoch, seen)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path, tiny_overrides: Overrides,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_forward = T.LitePoseLoss.forward

    def poisoned(self: T.LitePoseLoss, *args: object) -> object:
        out = real_forward(self, *args)
        calls["n"] += 1
        if calls["n"] == 4:  # second step of epoch 2
            return out._replace(total=out.total * float("nan"))
        return out

    monkeypatch.setattr(T.LitePoseLoss, "forward", poisoned)
    out = tmp_path / "run"
    with pytest.raises(T.TrainingDiverged) as err:
        T.fit(cfg_of(tiny_overrides(out, **{"optim.epochs": 3})), log=quiet, progress=False)
    msg = str(err.value)
    assert "non-finite" in msg and "epoch 2" in msg and str(out / "last.pt") in msg
    kept = load_training_checkpoint(out / "last.pt")
    assert kept["epoch"] == 1 and kept["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values() if v.is_floating_point())


def test_distillation_from_teacher_and_backbone_warm_start(tmp_path: Path, tiny_overrides: Overrides) -> None:
    torch.manual_seed(0)
    teacher = create_model("litepose-xs", 17, width=0.5, input_size=96)
    litepose.save(teacher, tmp_path / "teacher.pt")
    donor = create_model("litepose-xs", 14)  # another dataset's model: only its backbone fits
    torch.save(donor.state_dict(), tmp_path / "donor.pth")
    out = tmp_path / "run"
    lines: list[str] = []
    T.fit(cfg_of(tiny_overrides(out, **{"optim.epochs": 1, "distill.teacher": tmp_path / "teacher.pt",
                                        "distill.weight": 0.5, "init.backbone": tmp_path / "donor.pth"})),
          log=lines.append, progress=False)
    assert any("warm start from" in ln and "deconv/final" in ln for ln in lines), lines
    assert any("distilling from" in ln and "input 96" in ln for ln in lines), lines
    row = read_csv(out / "metrics.csv")[-1]
    assert row["distill"] is not None and row["distill"] > 0
    assert row["loss"] == pytest.approx(row["heatmap"] + row["push"] + row["pull"] + row["distill"], rel=1e-4)
    bad = create_model("litepose-xs", 14, width=0.5)
    litepose.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match="14 keypoints"):
        T.fit(cfg_of(tiny_overrides(tmp_path / "run2", **{"distill.teacher": tmp_path / "bad.pt"})),
              log=quiet, progress=False)


def test_metrics_logger_tensorboard_and_resume_truncation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from litepose.training.metrics_log import MetricsLogger

    scalars: list[tuple[str, float, int]] = []

    class FakeWriter:  # stands in for tensorboard's SummaryWriter (tensorboard is optional)
        def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
            self.log_dir = log_dir

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            scalars.append((tag, value, step))

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard",
                        types.SimpleNamespace(SummaryWriter=FakeWriter))
    log = MetricsLogger(tmp_path)
    assert log.tensorboard_enabled
    for step in range(1, 7):
        log.log_step(step, {"epoch": (step - 1) // 2, "loss": 1.0 / step, "lr": 1e-3})
        if step % 2 == 0:
            log.log_epoch(step // 2, {"global_step": step, "loss": 1.0 / step, "lr": 1e-3, "val_AP": 0.1 * step})
    log.close()
    assert any(t == "epoch/val_AP" and s == 3 and abs(v - 0.6) < 1e-9 for t, v, s in scalars)
    assert any(t == "step/loss" and s == 6 for t, _, s in scalars)
    assert (tmp_path / "curves.png").stat().st_size > 1000
    # a run resumed from the epoch-2 checkpoint drops what the killed run logged after it
    again = MetricsLogger(tmp_path, resume_epoch=2, resume_step=4, tensorboard=False)
    assert [r["epoch"] for r in again.epoch_rows] == [1, 2]
    assert [r["step"] for r in again.step_rows] == [1, 2, 3, 4]


def test_crops_smaller_than_the_test_input(tmp_path: Path, tiny_overrides: Overrides,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    seen: dict[str, list[float]] = {"train": [], "val": [], "threshold": []}
    real_validate = __import__("litepose.training.validate", fromlist=["validate"]).validate

    def spy_validate(model: torch.nn.Module, *args: object, input_size: int, **kw: object) -> dict[str, float]:
        seen["val"].append(input_size)
        return real_validate(model, *args, input_size=input_size, **kw)

    real_predictor_init = Predictor.__init__

    def spy_predictor_init(self: Predictor, *args: object, **kw: object) -> None:
        real_predictor_init(self, *args, **kw)
        seen["threshold"].append(self.detection_threshold)

    real_step = T.train_one_epoch

    def spy_epoch(engine: T.Engine, loader: torch.utils.data.DataLoader, *a: object, **kw: object) -> T.EpochStats:
        seen["train"].append(next(iter(loader))["image"].shape[-1])
        return real_step(engine, loader, *a, **kw)

    monkeypatch.setattr("litepose.training.validate.validate", spy_validate)
    monkeypatch.setattr(T, "train_one_epoch", spy_epoch)
    monkeypatch.setattr(Predictor, "__init__", spy_predictor_init)
    cfg = cfg_of(tiny_overrides(out, val=True, **{"optim.epochs": 1, "data.test_input_size": 96,
                                                  "data.augment.min_scale": 0.6, "data.augment.max_scale": 0.75,
                                                  "train.val_detection_threshold": 0.3}))
    result = T.fit(cfg, log=quiet, progress=False)
    # crops of 64 in training, validated at 96 with the configured candidate threshold
    assert seen == {"train": [64], "val": [96], "threshold": [0.3]}
    assert "AP" in result.final_metrics
    model = litepose.load(out / "last.pt")
    assert model.spec.input_size == 96  # what inference uses by default
    assert load_training_checkpoint(out / "last.pt")["meta"]["train_input_size"] == 64
    with pytest.raises(ConfigError, match=r"data\.test_input_size"):
        cfg_of(["data.test_input_size=100"])
