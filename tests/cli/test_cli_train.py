from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from litepose.cli import main
from litepose.training.checkpoint import load_training_checkpoint
from litepose.training.config import load_config


@pytest.fixture(scope="module")
def cfg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training YAML over a tiny synthetic dataset (6 train / 3 val images, input 64)."""
    from litepose.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("cli_train")
    kw = {"image_size": (96, 96), "min_people": 1, "max_people": 2, "min_height": 50, "max_height": 90,
          "crowd_prob": 0.0}
    generate_dataset(root / "train", 6, "coco", seed=21, **kw)
    generate_dataset(root / "val", 3, "coco", seed=22, **kw)
    path = root / "tiny.yaml"
    path.write_text(f"""
model:
  arch: litepose-xs
  width: 0.5
data:
  train_ann: {root}/train/annotations.json
  train_images: {root}/train/images
  val_ann: {root}/val/annotations.json
  val_images: {root}/val/images
  input_size: 64
  workers: 0
optim:
  lr: 1e-3
  epochs: 2
  batch_size: 3
train:
  output_dir: {root}/default_run
  device: cpu
  threads: 1
""")
    return path


def test_cli_train_subprocess_writes_run(cfg_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "litepose", "train", str(cfg_file), "--output", str(out),
                          "--set", "optim.epochs=1", "--no-progress"],
                         capture_output=True, text=True, timeout=180, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"run folder: {out}" in res.stdout and "best checkpoint" in res.stdout
    saved = load_config(out / "config.yaml")
    assert saved.optim.epochs == 1 and saved.train.output_dir == str(out) and saved.model.width == 0.5
    ckpt = load_training_checkpoint(out / "best.pt")
    assert ckpt["epoch"] == 1 and ckpt["best_metric"] is not None

    # --resume with the run folder only: continues with the stored config (here extended by --set)
    res2 = subprocess.run([sys.executable, "-m", "litepose", "train", "--resume", str(out), "--set",
                           "optim.epochs=2", "--no-progress"], capture_output=True, text=True, timeout=180, env=env)
    assert res2.returncode == 0, res2.stderr[-3000:]
    assert load_training_checkpoint(out / "last.pt")["epoch"] == 2


@pytest.mark.parametrize(("argv", "needle"), [
    (["--set", "optim.lrr=1"], "unknown key 'optim.lrr'; did you mean 'optim.lr'?"),
    (["--set", "optim.epochs=many"], "optim.epochs: expected an integer"),
    (["--resume", "/nonexistent/run"], "no such checkpoint file or run folder"),
])
def test_cli_train_user_errors_exit_2(cfg_file: Path, tmp_path: Path, argv: list[str], needle: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(cfg_file), "--output", str(tmp_path / "x"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err


def test_cli_train_unknown_key_in_file_names_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 1e-3\n  bach_size: 4\n")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "optim.bach_size" in err and "optim.batch_size" in err


def test_cli_train_refuses_to_overwrite_a_run(cfg_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"x": 1}, out / "last.pt")
    assert main(["train", str(cfg_file), "--output", str(out), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_cli_demo_end_to_end_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's whole path (data, training, flip-test prediction, pycocotools, outputs), shrunk to a few
    images and steps."""
    import json

    from litepose.cli import demo

    monkeypatch.setitem(demo.TRAIN_SETS, "demo", {"name": "train", "num_images": 12, "seed": 1})
    monkeypatch.setattr(demo, "VAL_SET", {"name": "val", "num_images": 4, "seed": 2})
    monkeypatch.setattr(demo, "RESERVE_S", 4.0)
    real_recipe = demo.recipe_config
    planned: list[float] = []

    def low_threshold_recipe(*args: object, **kwargs: object) -> dict:
        # A 15-s model's heatmaps stay far below the recipe's 0.2: decode its weak peaks so that there
        # are predictions to check.
        cfg = real_recipe(*args, **kwargs)  # type: ignore[arg-type]
        planned.append(cfg["train"]["time_budget_minutes"])
        cfg["train"]["val_detection_threshold"] = 0.001
        # A fixed amount of work (3 one-step epochs) instead of the time budget, so that a loaded machine
        # trains the same model, only slower (the budget itself: tests/training).
        cfg["optim"]["epochs"] = 3
        cfg["train"]["time_budget_minutes"] = None
        return cfg

    monkeypatch.setattr(demo, "recipe_config", low_threshold_recipe)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "0.25", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    preds = json.loads((out / "predictions.json").read_text())
    assert preds and all(len(p["keypoints"]) == 17 * 3 for p in preds) and summary["epochs"] == 3
    # the predictions are the saved model's (flip test), and the reported AP is pycocotools' score of them
    from litepose.evaluation.coco import evaluate_coco
    from litepose.inference.predictor import Predictor

    val_ann = out / "data" / "val" / "annotations.json"
    predictor = Predictor(summary["checkpoint"], flip_test=True, detection_threshold=0.001)
    again = [r for im in json.loads(val_ann.read_text())["images"]
             for r in predictor(val_ann.parent / "images" / im["file_name"]).to_coco(im["id"])]
    assert len(again) == len(preds)
    for a, b in zip(sorted(again, key=lambda r: (r["image_id"], -r["score"])),
                    sorted(preds, key=lambda r: (r["image_id"], -r["score"])), strict=True):
        assert a["image_id"] == b["image_id"] and a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["keypoints"] == pytest.approx(b["keypoints"], abs=1e-3)
    assert summary["metrics"] == pytest.approx(evaluate_coco(preds, val_ann))
    assert (out / "annotated.png").stat().st_size > 0
    assert str(out / "predictions.json") in printed and str(out / "annotated.png") in printed
    assert "AP " in printed and "goal AP >= 0.3" in printed
    # the training budget is planned inside the demo's budget, leaving the evaluation reserve
    assert len(planned) == 1 and 0 < planned[0] <= 0.25 - 4.0 / 60
    # a second demo run reuses the data and never overwrites the first run
    assert main(["demo", "--out", str(out), "--minutes", "0.25", "--no-progress"]) == 0
    assert (out / "run" / "last.pt").is_file() and (out / "run-2" / "last.pt").is_file()


@pytest.mark.parametrize("kind", ["a file", "inside a file"])
def test_cli_train_unusable_output_is_one_line_before_any_work(cfg_file: Path, tmp_path: Path, kind: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "plain.txt"
    blocker.write_text("not a folder")
    out = blocker if kind == "a file" else blocker / "run"
    assert main(["train", str(cfg_file), "--output", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"train.output_dir {out}" in err and "Traceback" not in err
    assert blocker.read_text() == "not a folder"


def test_cli_train_output_that_holds_the_training_json_is_refused(cfg_file: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = cfg_file.parent / "train"
    before = sorted(p.name for p in data_dir.iterdir())
    assert main(["train", str(cfg_file), "--output", str(data_dir), "--no-progress"]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert sorted(p.name for p in data_dir.iterdir()) == before


def test_cli_train_failed_start_leaves_no_folder_and_a_config_only_folder_is_reused(
        cfg_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", str(cfg_file), "--output", str(out), "--set", "data.train_images=/nonexistent/images",
                 "--no-progress"]) == 2
    assert "/nonexistent/images" in capsys.readouterr().err
    assert not out.exists()  # nothing to clean up, nothing that blocks the rerun
    out.mkdir()
    (out / "config.yaml").write_text("left: by a run that died before its first checkpoint\n")
    assert main(["train", str(cfg_file), "--output", str(out), "--set", "optim.epochs=1", "--no-progress"]) == 0
    assert load_training_checkpoint(out / "last.pt")["epoch"] == 1
    assert load_config(out / "config.yaml").optim.epochs == 1
