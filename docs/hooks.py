"""MkDocs hook: every public module of litepose is on some page of the API reference.

The API pages list their modules by hand (``::: litepose.inference.predictor``), in the order a reader
wants them. A module added to the package without a line on a page would silently be missing from the
reference, and cross-references to it would fail with a less helpful message; this hook names it instead
(a warning, so ``mkdocs build --strict`` fails). It also names an object rendered by two directives (its
documentation would appear twice, under the same anchor). Not rendered on purpose: the command line's modules
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
    pages: dict[str, list[str]] = {}  # module -> the pages rendering it (once per directive)
    docs_dir = Path(config["docs_dir"])
    for page in sorted(docs_dir.rglob("*.md")):
        for name in _DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            pages.setdefault(name, []).append(str(page.relative_to(docs_dir)))
    for module in sorted(modules - set(pages)):
        _log.warning(f"module {module} is on no page of the API reference: add '::: {module}' to the page of "
                     f"its room under docs/api/")
    for name, where in sorted(pages.items()):
        if len(where) > 1:
            _log.warning(f"{name} is rendered {len(where)} times ({', '.join(where)}): keep one '::: {name}'")
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
