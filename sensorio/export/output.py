"""Output files that appear whole or not at all.

Every command that writes a file (export, decode, plot) writes it through
``atomic_output``: to a temporary name in the same directory, renamed to the
final name only when everything was written. A full disk, a file size limit,
an error or Ctrl-C in the middle leaves no file under the final name (and
removes the temporary one), never a truncated file that looks complete.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import SensorioError, cannot_create


def check_new(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise SensorioError if path exists and may not be overwritten."""
    if not overwrite and os.path.lexists(path):
        raise SensorioError(f"{path} exists: choose another name or allow overwriting it")


def write_error(path: str | os.PathLike[str], exc: OSError) -> SensorioError:
    """An OSError met while writing path, in one line."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full"
    elif exc.errno == errno.EFBIG:
        what = "the file size limit was reached"
    else:
        what = exc.strerror or str(exc)
    return SensorioError(f"cannot write {path}: {what}; nothing was written under that name")


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` to write the whole output to;
    on a normal exit it becomes ``path``, on any exception it is removed.

    The temporary name keeps path's suffix (numpy, matplotlib and pyedflib
    choose by it). Without ``overwrite`` an existing path raises
    SensorioError, also when it appeared while the output was being written.
    An OSError while writing becomes a one-line SensorioError.
    """
    path = _target(Path(path), overwrite)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}")
    try:
        # created here (0666 minus the umask, like any new file), filled by the caller
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666))
    except (FileNotFoundError, NotADirectoryError):
        raise SensorioError(cannot_create(path)) from None
    except PermissionError:
        raise SensorioError(f"permission denied creating {path}") from None
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        try:
            yield tmp
            _commit(tmp, path, overwrite)
        except OSError as exc:
            raise write_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def _target(path: Path, overwrite: bool) -> Path:
    """The file an output named path goes to: path, or, when it is a link
    overwritten, the file it points to (the link stays: renaming over it
    made it a plain file). An existing device, pipe or folder is refused:
    renaming over one replaced /dev/stdout's node with a file."""
    refuse_non_regular(path)
    check_new(path, overwrite)
    if not os.path.lexists(path):
        return path
    return Path(os.path.realpath(path))


def refuse_non_regular(path: str | os.PathLike[str]) -> None:
    """Raise SensorioError when path is there and is no regular file (a
    device, pipe or folder), before any word of overwriting it: "pass
    --force" for /dev/null was followed by this refusal."""
    try:
        mode = os.stat(path).st_mode  # (through links: /dev/stdout is the pipe it leads to)
    except OSError:
        return  # not there, or a link to nothing: the file is made where it points
    if not stat.S_ISREG(mode):
        raise SensorioError(f"{path} is not a regular file (a device, pipe or folder): give a file's name")


def check_writable(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise SensorioError now for a file output that cannot be written
    (exists without overwrite, a device or pipe, a folder that is not
    there or not writable), before the work that makes it: export found
    a missing folder only after analysing the whole recording."""
    path = _target(Path(path), overwrite)
    folder = path.parent
    if not folder.is_dir():
        raise SensorioError(cannot_create(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SensorioError(f"cannot create {path}: its folder {folder} is not writable")


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())  # the data is on disk before the name points at it
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path appeared meanwhile: never overwrite
    except FileExistsError:
        raise SensorioError(f"{path} exists: choose another name or allow overwriting it") from None
    except OSError:
        check_new(path, overwrite)  # a file system without hard links
        os.replace(tmp, path)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove a temporary folder and everything in it, to the end even when
    Ctrl-C comes in the middle (a second one while the first's cleanup ran
    left a hidden parts folder beside the output); a KeyboardInterrupt that
    came is raised once the folder is gone."""
    interrupted = False
    while True:
        try:
            shutil.rmtree(path, ignore_errors=True)
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        raise KeyboardInterrupt


__all__ = ["atomic_output", "check_new", "check_writable", "refuse_non_regular", "remove_tree", "write_error"]
