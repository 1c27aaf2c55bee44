"""Safe file output: checks made before any work, and atomic writes.

* :func:`check_output_file` and :func:`check_output_dir` check an output path up front (before a
  model is loaded or an image is read): it must be writable, must not be a file where a folder is
  needed (or the reverse), and must never be one of the command's inputs. They raise
  :class:`OutputPathError` (a ``ValueError``), whose one-line message names the option and the path;
  the ``litepose`` CLI prints it as one line and exits with status 2.
* ``atomic_*`` write to a temporary file in the same folder, fsync, then rename: a reader never sees
  a half-written file, and a failed write never destroys the previous version.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "OutputPathError",
    "atomic_open",
    "atomic_save_torch",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_output_dir",
    "check_output_file",
]

PathLike = str | os.PathLike[str]


class OutputPathError(ValueError):
    """An output path that cannot be used; the message (one line) names the option and the path."""


def check_output_file(path: PathLike, *, inputs: Iterable[PathLike] = (), option: str = "--out") -> Path:
    """Check that the file ``path`` can be written without destroying an input; create nothing.

    Paths are compared after resolving symlinks and relative parts (and by inode where both exist,
    so a hard link counts as the same file).

    Args:
        path: the output file.
        inputs: the files and folders the command reads; ``path`` must not be one of them.
        option: how the CLI names the output (``--out``, ``--output``...), for the message.

    Returns:
        ``Path(path)``.

    Raises:
        OutputPathError: ``path`` is one of ``inputs``, an existing folder, lies inside a file, or its
            folder cannot be written.
    """
    target = Path(path)
    where = f"{option} {target}"
    resolved = _resolve(target, where)
    for source in inputs:
        if _same_path(resolved, Path(source)):
            raise OutputPathError(f"{where}: is the input {source}; choose another output file "
                                  "(inputs are never overwritten)")
    if _is_dir(resolved, where):
        raise OutputPathError(f"{where}: is a folder, expected a file name")
    _check_writable_parent(resolved.parent, where)
    return target


def check_output_dir(path: PathLike, *, inputs: Iterable[PathLike] = (), option: str = "--out") -> Path:
    """Check that files can be written into the folder ``path`` without destroying an input; create nothing.

    A folder that is one of ``inputs``, or directly holds one of them, is refused: the files written
    into it (named after the inputs, or fixed names) could replace an input.

    Args:
        path: the output folder (it may not exist yet).
        inputs: the files and folders the command reads.
        option: how the CLI names the output, for the message.

    Returns:
        ``Path(path)``.

    Raises:
        OutputPathError: ``path`` exists and is not a folder, lies inside a file, cannot be written,
            is one of ``inputs`` or holds one of them.
    """
    target = Path(path)
    where = f"{option} {target}"
    resolved = _resolve(target, where)
    for source in inputs:
        source_path = Path(source)
        if _same_path(resolved, source_path):
            raise OutputPathError(f"{where}: is the input {source}; choose another output folder "
                                  "(inputs are never overwritten)")
        if _same_path(resolved, _resolve(source_path, str(source_path)).parent):
            raise OutputPathError(f"{where}: holds the input {source}, which an output could replace; "
                                  "choose another output folder")
    if _exists(resolved, where) and not _is_dir(resolved, where):
        raise OutputPathError(f"{where}: exists and is not a folder")
    _check_writable_parent(resolved, where)
    return target


def _resolve(path: Path, where: str) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise OutputPathError(f"{where}: cannot resolve the path ({err})") from None


def _exists(path: Path, where: str) -> bool:
    try:
        return path.exists()
    except OSError as err:  # e.g. a parent folder without search permission
        raise OutputPathError(f"{where}: cannot access {path} ({err.strerror or err})") from None


def _is_dir(path: Path, where: str) -> bool:
    try:
        return path.is_dir()
    except OSError as err:
        raise OutputPathError(f"{where}: cannot access {path} ({err.strerror or err})") from None


def _same_path(resolved: Path, other: Path) -> bool:
    """``resolved`` (already resolved) and ``other`` name the same file or folder."""
    try:
        other_resolved = other.expanduser().resolve()
    except (OSError, RuntimeError):
        return False
    if resolved == other_resolved:
        return True
    try:  # hard links, and case-insensitive file systems
        return os.path.samefile(resolved, other_resolved)
    except OSError:  # one of them does not exist
        return False


def _check_writable_parent(folder: Path, where: str) -> None:
    """The nearest existing folder at or above ``folder`` must be a folder we can create files in."""
    existing = folder
    while not _exists(existing, where):
        existing = existing.parent
    if not _is_dir(existing, where):
        raise OutputPathError(f"{where}: lies inside {existing}, which is a file, not a folder")
    # A new file needs write and search permission on its folder; mkdir'ed parents need the same.
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{where}: cannot write in {existing} (permission denied)")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path`` atomically."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports modes 'w' and 'wb'")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = None) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent))


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], None]) -> None:
    """Atomically write ``path`` through ``writer(file_object)``."""
    with atomic_open(path, "wb") as fh:
        writer(fh)


def atomic_save_torch(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` through a temporary file and an atomic rename."""
    import torch

    atomic_write_with(path, lambda fh: torch.save(obj, fh))
