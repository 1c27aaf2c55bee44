"""The ``litepose`` command: a thin shell that parses arguments and calls the library.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so ``litepose --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from litepose import __version__
from litepose.config_io import ConfigError

# command name -> module; each module defines HELP, add_arguments(parser), run(args) -> int
COMMANDS: dict[str, str] = {
    "info": "litepose.cli.info",
    "convert": "litepose.cli.convert",
    "extract": "litepose.cli.extract",
    "synth": "litepose.cli.synth",
    "train": "litepose.cli.train",
    "demo": "litepose.cli.demo",
    "eval": "litepose.cli.eval",
    "predict": "litepose.cli.predict",
    "bench": "litepose.cli.bench",
    "export": "litepose.cli.export",
    "search": "litepose.cli.search",
    "experiment": "litepose.cli.experiment",
}


# optional packages -> the extra that installs them (pyproject.toml), for the one-line hint when one is missing
OPTIONAL_PACKAGES: dict[str, str] = {
    "torch": "torch",
    "onnx": "export",
    "onnxruntime": "runtime",
    "openvino": "openvino",
    "nncf": "export",
    "xtcocotools": "crowdpose",
    "motmetrics": "dev",
}


class CliError(Exception):
    """An error to report to the user as one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litepose",
        description="Real-time multi-person 2D pose estimation (Lite Pose, CVPR 2022).",
    )
    parser.add_argument("--version", action="version", version=f"litepose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:
        package = (err.name or "").split(".")[0]
        if package not in OPTIONAL_PACKAGES:
            raise
        print(f"litepose {args.command}: error: this needs the Python package {package!r}, which is not installed: "
              f"pip install 'litepose[{OPTIONAL_PACKAGES[package]}]'", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`litepose info | head`): stop quietly, as Unix tools do
        _silence_stdout()
        return 141
    except (CliError, OSError, ValueError, KeyError) as err:
        if not _repeated_on_this_node(err):
            print(f"litepose {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2


def _repeated_on_this_node(err: Exception) -> bool:
    """Whether another process of this torchrun node prints the same error, so this one stays quiet.

    A config error (unknown key, bad value) follows from the command line alone, so every rank hits it
    with the same line; only local rank 0 reports it. Anything else (a missing file, a busy GPU) may be
    particular to a rank and is printed by every rank that meets it.
    """
    if not isinstance(err, ConfigError):
        return False
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("LOCAL_RANK", "0")) != 0
    except ValueError:  # a malformed launcher variable: report rather than guess
        return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output): nothing to flush
        pass


def _one_line(err: Exception) -> str:
    """The message of an error the CLI reports without a traceback.

    OSError covers writes that fail after the up-front output checks (a full disk, a folder removed
    meanwhile): ``PermissionError(13, 'Permission denied', 'x')`` becomes ``x: Permission denied``.
    """
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
