"""Two-process torchrun (gloo, CPU) runs: replicas in lockstep, validated == saved, failures on one rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import litepose
from litepose.training.checkpoint import load_training_checkpoint
from litepose.training.metrics_log import read_csv

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this PyTorch build has no gloo backend")

# Runs fit() under torchrun and leaves, per rank, the final weights (parameters and buffers) of the model
# whose weights are saved, and what rank 0 gathered for each validation (every rank's predictions).
RANK_SCRIPT = """
import json, os, sys
import torch
import litepose.training.distributed as D
from litepose.training.config import load_config
from litepose.training.trainer import fit

out = sys.argv[1]
rank = int(os.environ["RANK"])
real_gather = D.all_gather_objects
validations = []

def spy_gather(obj):
    gathered = real_gather(obj)
    if isinstance(obj, tuple):  # validation (results, failure) pairs (the other gathers carry flags)
        validations.append([r for part, _ in gathered for r in part])
    return gathered

D.all_gather_objects = spy_gather
result = fit(load_config(None, sys.argv[2:]), progress=False)
torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()}, f"{out}/rank{rank}.pt")
if rank == 0:
    json.dump({"validations": validations, "stopped": result.stopped}, open(f"{out}/rank0.json", "w"))
"""


def torchrun(args: list[str], cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--standalone", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


def sets_args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


@pytest.mark.parametrize("budget", [False, True], ids=["epochs", "time-budget+ema"])
def test_replicas_identical_and_validated_equals_saved(tmp_path: Path, tiny_overrides: Callable[..., list[str]],
                                                       monkeypatch: pytest.MonkeyPatch, budget: bool) -> None:
    out = tmp_path / "ddp"
    extra: dict[str, Any] = {"optim.batch_size": 2, "optim.epochs": 2, "train.eval_interval": 1,
                             "train.val_detection_threshold": 0.01, "optim.schedule": "cosine"}
    if budget:
        # Each rank reads its own clock: before the fix the cosine rate differed between ranks at every step.
        extra.update({"optim.epochs": 500, "train.time_budget_minutes": 0.08, "train.eval_interval": 0,
                      "optim.ema_decay": 0.9})
    script = tmp_path / "run_rank.py"
    script.write_text(RANK_SCRIPT)
    res = torchrun([str(script), str(out), *tiny_overrides(out, val=True, **extra)], cwd=tmp_path)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]

    saved = load_training_checkpoint(out / "last.pt")
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    buffers = [k for k in rank0 if "running_" in k]
    assert len(buffers) > 100 and rank0.keys() == rank1.keys() == saved["state_dict"].keys()
    for key in rank0:  # parameters and BatchNorm buffers alike
        assert torch.equal(rank0[key], rank1[key]), f"ranks differ in {key}"
        assert torch.equal(rank0[key], saved["state_dict"][key]), f"rank 0 differs from last.pt in {key}"

    record = json.loads((out / "rank0.json").read_text())
    assert record["stopped"] == ("time budget" if budget else None)
    if budget:
        assert 1 <= saved["epoch"] < 500 and saved["meta"]["world_size"] == 2
    else:  # 8 images over 2 processes x batch 2: 2 steps per epoch (not 4 as on one process).
        assert saved["epoch"] == 2 and saved["global_step"] == 4
    # The last validation (sharded over both ranks) predicted exactly what the saved model predicts alone.
    merged = record["validations"][-1]
    assert merged, "no detections to compare: lower train.val_detection_threshold"
    metrics, single = validate_alone(out / "last.pt", tiny_overrides, monkeypatch)
    rows = read_csv(out / "metrics.csv")
    assert rows[-1]["val_AP"] == pytest.approx(metrics["AP"], abs=1e-12)
    assert _canonical(merged) == pytest.approx(_canonical(single), abs=1e-5)


def validate_alone(checkpoint: Path, tiny_overrides: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch
                   ) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Single-process validation of a saved checkpoint: its metrics and its predictions."""
    import litepose.training.distributed as D
    from litepose.training.validate import validate

    sets = dict(s.split("=", 1) for s in tiny_overrides(Path("unused"), val=True))
    captured: list[list[dict[str, Any]]] = []
    real_gather = D.all_gather_objects

    def spy_gather(obj: Any) -> list[Any]:
        captured.append(obj[0])
        return real_gather(obj)

    monkeypatch.setattr(D, "all_gather_objects", spy_gather)
    model = litepose.load(checkpoint)
    metrics = validate(model, sets["data.val_ann"], sets["data.val_images"], skeleton=model.skeleton,
                       input_size=64, detection_threshold=0.01, progress=False)
    return metrics, captured[-1]


def _canonical(results: list[dict[str, Any]]) -> list[float]:
    flat: list[float] = []
    for r in sorted(results, key=lambda r: (r["image_id"], -r["score"], r["keypoints"])):
        flat.extend([float(r["image_id"]), float(r["score"]), *map(float, r["keypoints"])])
    return flat


def test_error_on_rank0_only_stops_every_rank_with_one_message(tmp_path: Path,
                                                               tiny_overrides: Callable[..., list[str]]) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    torch.save({"x": 1}, out / "last.pt")  # the run folder holds another run: only rank 0 checks it
    res = torchrun(["-m", "litepose", "train", "--no-progress", *sets_args(tiny_overrides(out))], cwd=tmp_path)
    assert res.returncode != 0
    err = res.stderr
    assert err.count("already holds a run") == 1, err[-3000:]
    # The processes stop on their own with status 2 (torchrun may SIGTERM the slower one once the first has
    # exited, then prints its summary of the failure), none dies in a collective, no traceback from litepose.
    assert "exitcode  : 2" in err and "exitcode  : 1" not in err, err[-3000:]
    assert "Connection closed by peer" not in err and "litepose/" not in err, err[-3000:]
    assert [p.name for p in out.iterdir()] == ["last.pt"]  # nothing written


def test_a_config_error_every_rank_hits_is_printed_once(tmp_path: Path) -> None:
    res = torchrun(["-m", "litepose", "train", "--set", "optim.lrr=1"], cwd=tmp_path)
    assert "exitcode  : 2" in res.stderr, res.stderr[-3000:]
    assert res.stderr.count("unknown key 'optim.lrr'") == 1, res.stderr[-3000:]


def test_supernet_ranks_train_the_same_sub_networks(tmp_path: Path, tiny_overrides: Callable[..., list[str]]) -> None:
    # Each step's sub-network comes from (seed, step). With per-rank sampling (official) the parameters
    # would still agree (DDP averages the gradients), so the test records what every rank trained.
    out = tmp_path / "supernet"
    script = tmp_path / "run_rank.py"
    script.write_text(RANK_SCRIPT.replace("result = fit(", SUPERNET_SPY + "result = fit("))
    sets = tiny_overrides(out, **{"optim.batch_size": 2, "optim.epochs": 2, "model.supernet": True,
                                  "search_space.resolutions": [32, 64], "search_space.width_multipliers": [0.5, 0.25]})
    res = torchrun([str(script), str(out), *sets], cwd=tmp_path)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    trained = [json.loads((out / f"archs{rank}.json").read_text()) for rank in (0, 1)]
    assert trained[0] == trained[1] and len(trained[0]) == 4 and len({a for _, a in trained[0]}) > 1
    saved = load_training_checkpoint(out / "last.pt")
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    assert saved["family"] == "supernet" and len(rank0) == len(rank1) == 815
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"ranks differ in {key}"
        assert torch.equal(rank0[key], saved["state_dict"][key]), f"rank 0 differs from last.pt in {key}"


# Appended to RANK_SCRIPT for supernet runs: every rank writes the (step, sub-network) pairs it trained.
SUPERNET_SPY = """
import atexit
import litepose.training.supernet as S
trained = []
real_archs = S.SupernetObjective.archs

def spy_archs(self, step):
    archs = real_archs(self, step)
    trained.extend([step, a.name] for a in archs)
    return archs

S.SupernetObjective.archs = spy_archs
atexit.register(lambda: json.dump(trained, open(f"{out}/archs{rank}.json", "w")))
"""
