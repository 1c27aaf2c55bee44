"""The headline numbers a benchmark hands to ``run_all.py``.

Each ``bench_*.py`` accepts ``--summary-json PATH`` and writes there the few numbers worth a row in
the summary table, so that ``run_all.py`` never has to parse the human-readable output.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple


class Headline(NamedTuple):
    """One row of the summary table: what was measured, its value and its unit."""

    metric: str
    value: float
    unit: str


def add_summary_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary-json", type=Path, metavar="PATH",
                        help="also write the headline numbers to this JSON file (for run_all.py)")


def write_summary(path: Path | None, headlines: Sequence[Headline]) -> None:
    """Write ``headlines`` to ``path`` (nothing when ``path`` is None)."""
    if path is not None:
        path.write_text(json.dumps([h._asdict() for h in headlines], indent=1))


def read_summary(path: Path) -> list[Headline]:
    return [Headline(row["metric"], float(row["value"]), row["unit"]) for row in json.loads(path.read_text())]
