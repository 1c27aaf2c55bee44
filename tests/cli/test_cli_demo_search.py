"""`litepose demo --recipe search`: supernet -> search -> extract -> fine-tune -> AP, shrunk to seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import litepose
from litepose.cli import main


def test_search_recipe_end_to_end_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import litepose.search.recipe as R
    from litepose.cli import demo

    monkeypatch.setitem(demo.TRAIN_SETS, "search", {"name": "train-s", "num_images": 8, "seed": 1})
    monkeypatch.setattr(demo, "VAL_SET", {"name": "val", "num_images": 3, "seed": 2})
    monkeypatch.setattr(demo, "RESERVE_S", 4.0)
    monkeypatch.setattr(R, "SEARCH_EVOLUTION", {**R.SEARCH_EVOLUTION, "population": 3, "generations": 1})
    monkeypatch.setattr(R, "SEARCH_MINUTES", 0.1)
    out = tmp_path / "demo"
    assert main(["demo", "--recipe", "search", "--out", str(out), "--minutes", "0.6", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary-search.json").read_text())
    searched = summary["search"]
    assert searched["macs_paper"] <= searched["budget_macs_paper"]  # the search kept to the baseline's MACs
    assert set(searched["minutes"]) == {"supernet", "search", "finetune"}
    nas = out / "nas"
    for name in ("supernet/last.pt", "search/best_arch.json", "search/candidates.csv", "search/pareto.png",
                 "subnet.pt", "finetune/last.pt"):
        assert (nas / name).is_file(), name
    best = litepose.ArchSpec.from_json(nas / "search" / "best_arch.json")
    tuned = litepose.load(summary["checkpoint"])
    assert tuned.spec.channels == best.channels and tuned.spec.input_size == best.input_size
    assert litepose.load_supernet(nas / "supernet" / "last.pt").space is not None
    assert "searched:" in printed and str(out / "summary-search.json") in printed
