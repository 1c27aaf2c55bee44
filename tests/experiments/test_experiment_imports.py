"""Nothing outside the experiments room imports it (only ``litepose experiment`` does, when it runs)."""

from __future__ import annotations

import subprocess
import sys

CORE = ["litepose", "litepose.models", "litepose.decoding", "litepose.inference", "litepose.evaluation",
        "litepose.data", "litepose.training.trainer", "litepose.export", "litepose.search"]


def test_no_other_room_imports_the_experiments() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE)
            + "import litepose.cli; litepose.cli.build_parser()\n"
            + "print(sorted(m for m in sys.modules if m.startswith('litepose.experiments')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_cli_choices_equal_the_experiments() -> None:
    from litepose.cli import experiment as cli
    from litepose.experiments import design

    assert cli.EXPERIMENTS == design.EXPERIMENTS and cli.REFERENCE_SIZE == design.REFERENCE_SIZE
