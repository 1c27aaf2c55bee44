"""A command that needs an optional package that is not installed names the extra to install, in one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run_without(package: str, *argv: str) -> subprocess.CompletedProcess[str]:
    # sys.modules[name] = None makes `import name` raise ModuleNotFoundError, as on a machine without it.
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{package!r}] = None
        from litepose.cli import main
        sys.exit(main({list(argv)!r}))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_a_torch_command_without_torch_names_the_torch_extra() -> None:
    done = _run_without("torch", "info", "litepose-xs")
    assert done.returncode == 2
    assert done.stderr.strip() == ("litepose info: error: this needs the Python package 'torch', which is not "
                                   "installed: pip install 'litepose[torch]'")


def test_help_works_without_torch() -> None:
    done = _run_without("torch", "--help")
    assert done.returncode == 0, done.stderr
    assert "predict" in done.stdout and "export" in done.stdout
