from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from litepose.training.checkpoint import load_training_checkpoint
from litepose.training.metrics_log import read_csv


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="this PyTorch build has no gloo backend")
def test_torchrun_two_processes_gloo_cpu(tmp_path: Path, tiny_overrides: Callable[..., list[str]]) -> None:
    out = tmp_path / "ddp"
    sets = tiny_overrides(out, val=True, **{"optim.batch_size": 2, "optim.epochs": 2,
                                            "train.eval_interval": 2})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "litepose", "train", "--no-progress", *[a for s in sets for a in ("--set", s)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    # 8 images over 2 processes x batch 2: 2 steps per epoch (not 4 as on one process).
    ckpt = load_training_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["global_step"] == 4
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])  # saved unwrapped
    assert "2 process(es)" in res.stdout
    assert res.stdout.count("run folder:") == 1  # only rank 0 reports and writes
    rows = read_csv(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert rows[-1]["val_AP"] is not None and 0.0 <= rows[-1]["val_AP"] <= 1.0
    assert (out / "best.pt").is_file()
