"""`litepose info` on the HigherHRNet baselines (`litepose convert`: test_cli_models.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def litepose_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "litepose", *args], capture_output=True, text=True, timeout=300)


def test_info_shows_the_gradual_shrinking_numbers_of_reference_6() -> None:
    names = [f"scaled-higherhrnet-{n}" for n in ("w16", "shrink1", "shrink2", "shrink3")]
    out = litepose_cli("info", *names, "--input-size", "512", "--joints", "14", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == names
    assert all(r["input_size"] == 512 and r["num_keypoints"] == 14 for r in rows)
    measured = [(7.21e6, 12.49e9), (6.71e6, 10.11e9), (7.62e6, 10.01e9), (7.38e6, 9.14e9)]
    for row, (params, macs) in zip(rows, measured, strict=True):
        assert row["params"] == pytest.approx(params, rel=5e-3)
        assert row["macs_paper"] == pytest.approx(macs, rel=5e-3)
    table = litepose_cli("info", "scaled-higherhrnet-shrink3", "litepose-xs")
    assert table.returncode == 0 and "scaled-higherhrnet-shrink3" in table.stdout and "7,375,166" in table.stdout


def test_info_refuses_litepose_knobs_for_higherhrnet_in_one_line() -> None:
    out = litepose_cli("info", "higherhrnet-w32", "--width", "0.5")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == ("litepose info: error: higherhrnet-w32: width applies to LitePose "
                                  "architectures only, not to a HigherHRNet")
