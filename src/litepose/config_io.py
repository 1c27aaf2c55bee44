"""Typed configs: frozen dataclasses read strictly from YAML, with ``--set key.path=value`` overrides.

Any tree of dataclasses whose fields all have defaults is a config (the training config,
:mod:`litepose.training.config`, is one; search and export configs are meant to be others):

* :func:`load_yaml_config` reads a YAML file; sections left out take the defaults. Unknown keys are an
  error that names the key path, the closest known key and the file.
* Values are converted to the annotated field types (``int``, ``float``, ``bool``, ``str``,
  ``Literal``, ``X | None``, fixed and variable ``tuple``, nested dataclasses), with errors naming the
  field: YAML's ``1e-3`` (a string to YAML 1.1) becomes a float where the field is a float.
* :func:`apply_overrides` applies ``key.path=value`` items, each typed by the field it lands on
  (a ``str`` field keeps the text verbatim; ``null`` clears an optional field).
* :func:`check_field` is what ``__post_init__`` checks call to fail with one line naming the field.
* :func:`config_to_dict`, :func:`config_to_yaml` and :func:`save_config` write a config back.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

__all__ = [
    "ConfigError",
    "apply_overrides",
    "check_field",
    "config_to_dict",
    "config_to_yaml",
    "dataclass_from_dict",
    "load_yaml_config",
    "read_yaml",
    "save_config",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config problem, reported as one line naming the file and the key path."""


def check_field(ok: bool, key: str, what: str, value: Any) -> None:
    """Raise ``ConfigError("<key> <what>, got <value>")`` unless ``ok`` (for ``__post_init__`` checks)."""
    if not ok:
        raise ConfigError(f"{key} {what}, got {value!r}")


# --------------------------------------------------------------------------------------------------
# Strict typed conversion
# --------------------------------------------------------------------------------------------------
_NONE_WORDS = {"null", "none", "~", ""}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} values ({', '.join(_type_name(a) for a in args)})"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` to the annotated type ``tp`` or raise a :class:`ConfigError` naming ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        optional = type(None) in args
        if optional and (value is None or (isinstance(value, str) and str not in args
                                           and value.strip().lower() in _NONE_WORDS)):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed:
            return value
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(tp, type) and isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _from_mapping(tp, value, where)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {len(value)} values {list(value)!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.strip().lower() in ("true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:  # YAML 1.1 reads 1e-3 (no dot) as a string
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise TypeError(f"{where}: unsupported config field type {tp!r}")  # a bug in this module


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown_key_error(key: str, known: Iterable[str], prefix: str) -> ConfigError:
    path = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {(prefix + '.' if prefix else '') + close[0]!r}?" if close else ""
    return ConfigError(f"unknown key {path!r}{hint} (allowed here: {', '.join(sorted(known))})")


def _from_mapping(cls: type[T], raw: Mapping[str, Any], prefix: str) -> T:
    types_ = _field_types(cls)
    for key in raw:
        if key not in types_:
            raise _unknown_key_error(str(key), types_, prefix)
    kwargs = {k: _coerce(v, types_[k], f"{prefix}.{k}" if prefix else k) for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # __post_init__ checks of nested dataclasses defined elsewhere
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from None


def dataclass_from_dict(cls: type[T], raw: Mapping[str, Any] | None, *, source: str = "config") -> T:
    """Build the config dataclass ``cls`` from a (possibly partial) mapping; errors are prefixed with ``source``.

    Missing fields take their defaults, unknown keys are refused with the closest known one, and
    values are converted to the annotated field types (see the module docstring).
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a config must be a mapping of sections, got {type(raw).__name__}")
    try:
        return _from_mapping(cls, raw, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) suitable for YAML and for checkpoints."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(cfg)


def config_to_yaml(cfg: Any) -> str:
    """Block-style YAML with short lists on one line (``milestones: [350, 480]``)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)

    _Dumper.add_representer(list, flow_list)
    return yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config atomically as YAML."""
    from litepose.io import atomic_write_text

    atomic_write_text(path, config_to_yaml(cfg))
    return Path(path)


def _lookup_type(root: type, path: Sequence[str]) -> Any:
    """The annotated type of the field at ``path`` (e.g. ``["optim", "lr"]``) under the dataclass ``root``,
    or raise for unknown keys."""
    cls: Any = root
    tp: Any = root
    for depth, key in enumerate(path):
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"unknown key {'.'.join(path)!r}: {'.'.join(path[:depth])!r} is not a section")
        types_ = _field_types(cls)
        if key not in types_:
            raise _unknown_key_error(key, types_, ".".join(path[:depth]))
        tp = types_[key]
        cls = tp
    return tp


def _parse_override_value(text: str, tp: Any) -> Any:
    import yaml

    args = set(typing.get_args(tp)) if typing.get_origin(tp) in (typing.Union, types.UnionType) else {tp}
    if str in args:
        # Strings stay verbatim (paths, arch names); only an explicit null word clears an optional field.
        if type(None) in args and text.strip().lower() in _NONE_WORDS:
            return None
        return text
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def apply_overrides(cfg: T, overrides: Iterable[str], *, source: str = "--set") -> T:
    """Apply ``key.path=value`` overrides, each typed by the field it sets.

    Examples: ``optim.lr=1e-3``, ``optim.milestones=[50,180]``, ``data.augment.flip_prob=0``,
    ``distill.teacher=null``.
    """
    raw = config_to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source} {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-3")
        key, text = item.split("=", 1)
        path = [p for p in key.strip().split(".") if p]
        if not path:
            raise ConfigError(f"{source} {item!r}: empty key")
        try:
            tp = _lookup_type(type(cfg), path)
            if dataclasses.is_dataclass(tp):
                raise ConfigError(f"{key!r} is a section; set one of its fields, e.g. {key}.<field>=...")
            value = _coerce(_parse_override_value(text, tp), tp, key)
        except ConfigError as err:
            raise ConfigError(f"{source} {item!r}: {err}") from None
        node = raw
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = list(value) if isinstance(value, tuple) else value
    return dataclass_from_dict(type(cfg), raw, source=source)


def load_yaml_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Read a YAML config of type ``cls`` strictly (``None``: all defaults) and apply ``--set`` overrides."""
    cfg = cls()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} does not exist")
        cfg = dataclass_from_dict(cls, read_yaml(p), source=str(p))
    return apply_overrides(cfg, overrides)


def read_yaml(path: str | Path) -> Any:
    """The parsed content of a YAML file (safe loader), or one line naming the file and the first parse error.

    Every YAML the project reads (configs, dataset and skeleton files, official experiment YAMLs) comes
    through here, so malformed input is reported the same way everywhere.

    Raises:
        FileNotFoundError: no such file.
        ConfigError: the text is not valid YAML.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML ({str(err).splitlines()[0]})") from None
