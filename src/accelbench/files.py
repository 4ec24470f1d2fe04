"""The one place accelbench decides how it writes a file and whether a path stays inside a folder.

* ``write_atomically(path, data)``: the bytes go to a temporary file in the same folder, are
  flushed to disk, and the temporary file is renamed over ``path``. A reader (or a later run)
  sees the old file or the new one, never half of one; a process killed mid-write leaves the old
  file whole (and at most a ``.<name>.accelbench-*`` temporary beside it). A symlink at ``path``
  is replaced by the new file, never followed: the write cannot land outside the folder asked for.
* ``escapes_folder(folder, location)``: whether a relative location named inside a file (an ONNX
  tensor's external data) leads outside ``folder``: absolute, ``..`` after normalising, or through a
  symlink anywhere along the way.

Every file accelbench writes is listed in docs/files.md.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_INFIX = ".accelbench-"


def write_atomically(path: str | os.PathLike, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` all at once (see the module docstring); returns ``path``.
    OSError as the operating system raises it (a missing or read-only folder)."""
    target = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{TEMP_INFIX}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would have made it, not mkstemp's 0600
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def escapes_folder(folder: str | os.PathLike, location: str) -> str | None:
    """Why ``location`` (relative to ``folder``) leads outside ``folder``, or None when it stays inside:
    an absolute path, ``..`` that climbs out, a symlink on the way, or a hard-linked file (it may be
    a file from anywhere)."""
    if not location or os.path.isabs(location) or Path(location).drive:
        return "an absolute path"
    normal = os.path.normpath(location)
    if normal == ".." or normal.startswith(".." + os.sep):
        return "'..' climbs out of the folder"
    base = Path(folder).resolve()
    step = base
    for part in Path(normal).parts:
        step = step / part
        if step.is_symlink():
            return f"{str(step.relative_to(base))!r} is a symlink"
    resolved = (base / normal).resolve()
    if resolved != base and base not in resolved.parents:
        return "it resolves outside the folder"
    if resolved.is_file() and resolved.stat().st_nlink > 1:
        return "it is a hard link (the same file as one elsewhere)"
    return None
