"""The core never imports the search room (litepose.search is imported only by ``litepose search`` and the
recipes), and ``litepose --help`` stays light."""

from __future__ import annotations

import subprocess
import sys

CORE = ["litepose", "litepose.models", "litepose.models.space", "litepose.models.supernet", "litepose.decoding",
        "litepose.inference", "litepose.evaluation", "litepose.data", "litepose.training.trainer"]


def test_core_does_not_import_the_search() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE)
            + "import litepose.cli; litepose.cli.build_parser()\n"
            + "print(sorted(m for m in sys.modules if m.startswith('litepose.search')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
