"""The one rule for who writes a workspace: while a studio server is up, it alone does.

DuckDB locks a workspace file only while a connection is open, and the studio opens one per page render
and per run step, so between them a CLI command could write, and a second server would take the first
one's working run for interrupted and work it twice. A studio therefore holds an advisory lock on
`<workspace>.studio-lock` for as long as its process lives; the CLI and a second server refuse a workspace
so held, with a message. The lock is `flock`'s: the kernel drops it when the process ends, even by
kill -9, so no stale lock outlives a crash, and a restarted server takes it at once.
"""

import fcntl
import os
from pathlib import Path

from dialin_core.errors import WorkspaceBusy

_held: dict[str, int] = {}  # lock files this process holds -> their descriptors (kept open: closing releases)


def lock_path(workspace: str | Path) -> Path:
    return Path(f"{Path(workspace).expanduser().resolve()}.studio-lock")


def hold_for_studio(workspace: str | Path) -> None:
    """Take the workspace for the rest of this process; WorkspaceBusy when another studio holds it."""
    path = lock_path(workspace)
    if str(path) in _held:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise WorkspaceBusy(_held_elsewhere(workspace, path)) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    _held[str(path)] = descriptor


def refuse_if_a_studio_holds(workspace: str | Path) -> None:
    """For a writer outside the studio (the CLI): WorkspaceBusy while a studio in another process is up."""
    path = lock_path(workspace)
    if str(path) in _held or not path.exists():
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WorkspaceBusy(_held_elsewhere(workspace, path)) from None
    finally:
        os.close(descriptor)  # releases the probe's lock, if it got it


def _held_elsewhere(workspace: str | Path, path: Path) -> str:
    pid = path.read_text().strip() or "unknown"
    return (f"workspace {workspace} is open in a studio (process {pid}): while a studio is up it alone writes the "
            "workspace. Work in that studio, stop it, or use another workspace file.")
