"""Files written so that they are either complete or absent (write, flush, rename)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread writes
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The mode a plain ``open(path, "w")`` would give a new file: 0o666 less the umask (0o644 usually).
FILE_MODE = 0o666 & ~_read_umask()


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Write a file so that it is either complete or absent: write a temporary file in the
    same folder, flush it to disk, then rename it over ``path``. The file gets the mode any
    program's new file gets (:data:`FILE_MODE`), not the 0600 of a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))
