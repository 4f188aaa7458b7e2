"""Write a file whole or not at all: the one atomic write every saved file of the course uses
(run logs, checkpoints, notes, learner copies).

The data goes to a temporary file beside the target, is synced to disk, then renamed over the
target (a rename within one file system is atomic). A reader - or a crash, or a full disk -
therefore sees the old file or the complete new one, never a torn one.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_directory(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(target: Path, data: bytes | str, exclusive: bool = False) -> bool:
    """Put ``data`` (bytes, or text stored as UTF-8) at ``target`` whole or not at all.

    ``exclusive``: never replace an existing file - the new one is hard-linked into place, which
    fails when ``target`` exists, and False is returned. Otherwise it replaces ``target`` and
    returns True. On any failure the temporary file is removed and ``target`` is unchanged.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if exclusive:
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, target)
            tmp = None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    fsync_directory(target.parent)
    return True
