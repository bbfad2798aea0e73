"""Crash-safe outputs: write to a temporary file in the same folder, then rename.

Every file scalelaws writes (NetCDF, GeoTIFF/COG, CSV, laws, reports, JSON, figures) goes
through :func:`atomic_path`: the writer fills a temporary file next to the target and the
temporary file replaces the target with :func:`os.replace` (atomic on POSIX and Windows within
one file system) only when the writer returned without error. An interrupted or failing run
therefore never leaves a truncated file, and never destroys the previous version of the output.

:func:`check_output` answers the questions a command asks before a long computation: can the
output be written there at all, and would it overwrite one of the inputs?

Examples
--------
>>> with atomic_path("out/law.nc") as tmp:  # doctest: +SKIP
...     ds.to_netcdf(tmp)
>>> atomic_write_text("out/report.md", text)  # doctest: +SKIP

"""

from __future__ import annotations

import errno
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from scalelaws.errors import OutputError

__all__ = ["atomic_path", "atomic_write_text", "check_output", "check_output_dir"]

log = logging.getLogger(__name__)

#: errno values that mean "this output cannot be written here" (a user problem, not a bug).
_WRITE_ERRNOS = {
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR, errno.EISDIR,
    errno.ENOENT, errno.EEXIST, errno.EDQUOT, errno.ENAMETOOLONG,
}


def _temp_name(path: Path) -> Path:
    # the suffix is kept last: some writers choose the format from it (matplotlib, GDAL); the
    # writer's PID lets a later write recognise the leftovers of a killed one
    return path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part{path.suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. no permission to signal it: it exists
        return True
    return True


def _remove_stale(path: Path) -> None:
    """Remove temporary files of ``path`` left by writers that were killed (their PID is gone)."""
    pattern = re.compile(rf"^\.{re.escape(path.stem)}\.(\d+)-[0-9a-f]{{8}}\.part{re.escape(path.suffix)}$")
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for f in siblings:
        m = pattern.match(f.name)
        if m and not _pid_alive(int(m.group(1))):
            with suppress(OSError):
                f.unlink()
                log.info("removed %s, left by an interrupted write", f)


def _output_error(exc: OSError, path: Path) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot write the output: {reason}", path)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    The parent folder is created when missing. When the block raises (or the process dies),
    the target is left as it was: absent, or its previous content; the temporary file is
    removed on an exception. A SIGKILL can leave a hidden ``.STEM.PID-XXXXXXXX.partSUFFIX``
    file behind, never a truncated ``NAME``; the next write of ``NAME`` removes it.

    Parameters
    ----------
    path
        The final output path.

    Yields
    ------
    pathlib.Path
        Where the writer must write (same folder and suffix as ``path``).

    Raises
    ------
    OutputError
        The folder cannot be created or written (read-only, a file in the way, disk full).

    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(exc, final) from exc
    _remove_stale(final)
    tmp = _temp_name(final)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError("the writer produced no file", final)
        os.replace(tmp, final)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink()
        if exc.errno in _WRITE_ERRNOS:
            raise _output_error(exc, final) from exc
        raise
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    log.debug("wrote %s", final)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def _writable_ancestor(path: Path) -> None:
    """Raise :class:`OutputError` unless the folder of ``path`` exists or can be created."""
    parent = path.parent
    probe = parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"cannot create the output folder: {probe} is a file, not a folder", path)
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the output: the folder {probe} is read-only", path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(
    path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()
) -> Path:
    """Check, before any computation, that an output file can be written and spares the inputs.

    A missing output folder is fine (it is created when the output is written).

    Parameters
    ----------
    path
        The output file.
    inputs
        Files (or folders) the command reads; ``None`` entries are ignored.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        ``path`` is a folder, is one of ``inputs`` (or lies inside an input folder), or its
        folder is read-only or cannot be created (a file in the way).

    """
    out = Path(path)
    if out.is_dir():
        raise OutputError("is a folder; give a file name for the output", out)
    for inp in inputs:
        if inp is None:
            continue
        ip = Path(inp)
        if _same_file(out, ip):
            raise OutputError("the output would overwrite an input file; choose another name", out)
    _writable_ancestor(out)
    return out


def check_output_dir(
    path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()
) -> Path:
    """Check that an output folder can be created (or written) and is not an input folder.

    Raises
    ------
    OutputError
        ``path`` is a file, is one of ``inputs``, or cannot be created or written.

    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError("is a file, not a folder; give a folder for the outputs", out)
    for inp in inputs:
        if inp is not None and _same_file(out, Path(inp)):
            raise OutputError(
                "the output folder is an input folder; choose another one (inputs are never "
                "written)", out)
    _writable_ancestor(out / "x")
    return out
