"""Griffe extension for the documentation site: how mkdocstrings reads litepose's docstrings.

The docstrings are written for people reading the code (Google sections, Sphinx roles); the site renders
them as Markdown. When griffe has loaded the package, this extension:

* turns every Sphinx role (``:class:`Predictor```, ``:func:`~litepose.decode```) into an autorefs
  cross-reference to the full path of the object it names, resolved in the scope of the documented object
  as Python would see the name (the object's members, its module's imports, its parents). A role naming a
  litepose object that does not exist is logged as a warning and still becomes a cross-reference, so
  ``mkdocs build --strict`` fails on it: a typo in a docstring breaks the build instead of leaving a dead
  link. Roles naming objects outside litepose (torch, NumPy, the standard library), private names and the
  command line's modules (none of them rendered) become plain code; those in litepose are still checked;
* adds the package's lazily imported names (``litepose.Predictor``, ``litepose.export.export_onnx``: a name
  table read by a module ``__getattr__``, invisible to static analysis) as aliases of their definitions,
  so roles may name them the way users import them;
* splits grouped entries (``min_people, max_people: ...``) of ``Args:`` and ``Attributes:`` sections into
  one entry per name, so each is checked against the signature and shown with its own type;
* gives each class attribute the description the class's ``Attributes:`` section has for it (the site
  shows attributes under their own headings, with type and default) and reports entries naming no
  attribute;
* turns reST's ``Example::`` (a paragraph ending in ``::`` before an indented block) into ``Example:``.

Used from ``mkdocs.yml``: ``extensions: [docs/griffe_docstrings.py]`` in the mkdocstrings options.
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import Any

import griffe

PACKAGE = "litepose"

# :class:`Name`, :py:func:`~pkg.mod.name`, :meth:`title <Class.method>`, :data:`!literal`
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`([^`]+)`")
_EXPLICIT_TITLE = re.compile(r"^(.*?)\s*<([^<>]+)>$")
_ARGS_HEADER = re.compile(r"^\s*(?:Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Attributes):\s*$")
_GROUPED_ENTRY = re.compile(r"^(\s+)(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)(\s*\([^)]*\))?:\s*(.*)$")
# reST's "Example::" (a paragraph ending in "::", then an indented literal block): "Example:" in Markdown,
# where the indented block after the blank line is already code; a "::" standing apart is dropped
_LITERAL_MARKER = re.compile(r"(?m)(?:(?<=\S)(::)|\s+::)$(?=\n\s*\n)")
_IMPORT_MODULE = re.compile(r"import_module\(\s*[\"']([\w.]+)[\"']")

_logger = griffe.logger

# modules of the package the site does not render (the command line's internals): roles naming them are
# checked, then shown as plain code
_NOT_RENDERED = ("litepose.cli", "litepose.__main__")

# modules a role may name without importing them (plain code, not links)
_EXTERNAL_HEADS = frozenset({"torch", "np", "numpy", "scipy", "cv2", "onnx", "onnxruntime", "openvino", "time", "os"})


class LiteposeDocstrings(griffe.Extension):
    """Adds the lazily imported names as aliases, then rewrites every docstring of the package (see above)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != PACKAGE:
            return
        for module in _modules(pkg):
            _add_lazy_aliases(module)
        objects = _objects(pkg)
        for obj in objects:
            if obj.docstring is not None:
                text = _ROLE.sub(lambda match, obj=obj: _rewrite(match, obj), obj.docstring.value)
                text = _LITERAL_MARKER.sub(lambda match: ":" if match.group(1) else "", text)
                obj.docstring.value = _split_grouped_entries(text)
        for obj in objects:
            if obj.is_class and obj.docstring is not None:
                _document_attributes(obj)


def _modules(module: griffe.Module) -> list[griffe.Module]:
    found = [module]
    for member in module.modules.values():
        if not member.is_alias:
            found.extend(_modules(member))
    return found


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    """Every object defined in ``obj`` (aliases excluded: their docstrings belong to their targets)."""
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_objects(member))
    return found


# --------------------------------------------------------------------------------------------------
# Lazily imported names
# --------------------------------------------------------------------------------------------------
def _add_lazy_aliases(module: griffe.Module) -> None:
    """Alias every name that ``module`` exports only through ``__getattr__``.

    The names are those of ``__all__`` as far as static analysis reads it, and the keys of the module's
    name tables (``__all__ = sorted(_NAMES)`` cannot be read statically).
    """
    if "__getattr__" not in module.members:
        return
    tables = _name_tables(module)
    names = [name for name in module.exports if isinstance(name, str)] + [name for table in tables for name in table]
    for name in dict.fromkeys(names):
        if name in module.members:
            continue
        target = _lazy_target(module, name, tables)
        if target is None:
            _logger.warning(f"{module.filepath}: cannot tell where the lazily imported name {name!r} is defined")
            continue
        module.set_member(name, griffe.Alias(name, target, parent=module))


def _name_tables(module: griffe.Module) -> list[dict[str, str]]:
    """The module's literal ``{name: module}`` dicts (``_LAZY = {"Predictor": "litepose.inference..."}``)."""
    tables = []
    for member in module.attributes.values():
        if member.is_alias or member.value is None:
            continue
        try:
            value = ast.literal_eval(str(member.value))
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
            tables.append(value)
    return tables


def _lazy_target(module: griffe.Module, name: str, tables: list[dict[str, str]]) -> str | None:
    for table in tables:
        if name in table:
            source = table[name]
            # a full module path, or the name of a submodule ("onnx" in litepose.export)
            source = source if source.startswith(f"{PACKAGE}.") else f"{module.path}.{source}"
            return f"{source}.{name}"
    # otherwise the module that __getattr__ imports by its literal name (litepose.decoding's torch-only names)
    for source in _IMPORT_MODULE.findall(module.members["__getattr__"].source):
        try:
            defined = module.modules_collection[source]
        except KeyError:
            continue
        if name in defined.members and not defined.members[name].is_alias:
            return f"{source}.{name}"
    return None


# --------------------------------------------------------------------------------------------------
# Grouped parameters
# --------------------------------------------------------------------------------------------------
def _split_grouped_entries(text: str) -> str:
    """``a, b: what they are`` in an ``Args:`` or ``Attributes:`` section becomes one entry per name.

    The docstrings document parameters that belong together in one entry (as numpydoc allows); griffe's
    Google parser takes ``a, b`` for one unknown name. Split, each name is checked against the signature
    and shown with its own type.
    """
    lines = text.splitlines()
    out: list[str] = []
    section_indent: int | None = None  # indent of the current "Args:" header, None outside one
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if _ARGS_HEADER.match(line):
            section_indent = indent
        elif line.strip() and section_indent is not None and indent <= section_indent:
            section_indent = None
        grouped = _GROUPED_ENTRY.match(line) if section_indent is not None and indent > section_indent else None
        if grouped is None:
            out.append(line)
            i += 1
            continue
        continuation = []  # the description's further lines: indented deeper, up to a blank line
        i += 1
        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent:
            continuation.append(lines[i])
            i += 1
        pad, names, annotation, description = grouped.groups()
        for name in (n.strip() for n in names.split(",")):
            out.append(f"{pad}{name}{annotation or ''}: {description}")
            out.extend(continuation)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------------
def _document_attributes(cls: griffe.Object) -> None:
    """Give each attribute the description its class's ``Attributes:`` section has for it.

    The site renders every attribute (a config key, a dataclass field) under its own heading with its type
    and default, and not the ``Attributes:`` table (``show_docstring_attributes: false``), which would say
    the same things a second time; the description moves to the heading. An entry naming no attribute of the
    class would then be lost: it is reported (the strict build fails) so the docstring gets fixed.
    """
    for section in cls.docstring.parse("google", warnings=False):
        if section.kind is not griffe.DocstringSectionKind.attributes:
            continue
        for entry in section.value:
            member = cls.members.get(entry.name)
            if member is None or member.is_alias:
                _logger.warning(f"{_where(cls)}: the Attributes section of {cls.path} describes {entry.name!r}, "
                                f"which is not an attribute of the class")
            elif member.docstring is None and entry.description:
                member.docstring = griffe.Docstring(entry.description, parent=member)


# --------------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------------
def _rewrite(match: re.Match[str], obj: griffe.Object) -> str:
    text = match.group(1).strip()
    explicit = _EXPLICIT_TITLE.match(text)
    if explicit:
        title, target = explicit.group(1), explicit.group(2)
    else:
        target = text.lstrip("!~")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    if text.startswith("!"):
        return f"`{title}`"
    path = _resolve(target.lstrip("."), obj)
    if path is None:
        return f"`{title}`"
    return f"[`{title}`][{path}]"


def _resolve(target: str, obj: griffe.Object) -> str | None:
    """The full path the role names, ``None`` for objects that are not rendered (outside litepose, private)."""
    head, _, rest = target.partition(".")
    if head == PACKAGE:
        path = target
    else:
        try:
            path = obj.resolve(head)
        except griffe.NameResolutionError:
            if head not in _EXTERNAL_HEADS and not hasattr(builtins, head):
                _logger.warning(f"{_where(obj)}: cross-reference {target!r} does not resolve from {obj.path}")
            return None
        path = f"{path}.{rest}" if rest else path
    if path.split(".", 1)[0] != PACKAGE:
        return None
    canonical = _canonical(path, obj)
    if canonical is None:
        _logger.warning(f"{_where(obj)}: cross-reference {target!r} names {path}, which does not exist")
        return path  # left as a link: autorefs reports it and the strict build fails
    if any(part.startswith("_") and not part.startswith("__") for part in canonical.split(".")):
        return None
    if any(canonical == module or canonical.startswith(f"{module}.") for module in _NOT_RENDERED):
        return None  # it exists (checked above), but the site has no page for it
    return canonical


def _canonical(path: str, obj: griffe.Object) -> str | None:
    """The path where ``path`` is defined (through aliases and re-exports), ``None`` if nothing is there."""
    try:
        found = obj.modules_collection[path]
    except KeyError:
        return None
    try:
        return found.final_target.path if found.is_alias else found.path
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _where(obj: griffe.Object) -> str:
    line = f":{obj.docstring.lineno}" if obj.docstring is not None and obj.docstring.lineno else ""
    return f"{obj.filepath}{line}"
