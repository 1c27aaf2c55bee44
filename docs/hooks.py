"""MkDocs hook: every public module of litepose is on some page of the API reference.

The API pages list their modules by hand (``::: litepose.inference.predictor``), in the order a reader
wants them. A module added to the package without a line on a page would silently be missing from the
reference, and cross-references to it would fail with a less helpful message; this hook names it instead
(a warning, so ``mkdocs build --strict`` fails). Not rendered on purpose: the command line's modules
(``litepose.cli``: their user-facing text is ``--help`` and the guide) and private modules.

Used from ``mkdocs.yml``: ``hooks: [docs/hooks.py]``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.plugins import get_plugin_logger

PACKAGE = "litepose"
NOT_RENDERED = ("litepose.cli", "litepose.__main__")

_DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)
_log = get_plugin_logger("api_coverage")


def on_config(config: Any) -> Any:
    root = Path(config["config_file_path"]).parent
    modules = _modules(root / "src" / PACKAGE)
    documented: set[str] = set()
    for page in Path(config["docs_dir"]).rglob("*.md"):
        documented.update(_DIRECTIVE.findall(page.read_text(encoding="utf-8")))
    for module in sorted(modules - documented):
        _log.warning(f"module {module} is on no page of the API reference: add '::: {module}' to the page of "
                     f"its room under docs/api/")
    return config


def _modules(package_dir: Path) -> set[str]:
    """Dotted names of the package's public modules (packages included), from the files."""
    found = set()
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if any(part.startswith("_") for part in parts[1:]):
            continue
        if any(name == skip or name.startswith(f"{skip}.") for skip in NOT_RENDERED):
            continue
        found.add(name)
    return found
