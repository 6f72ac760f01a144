"""The workspace lock: one writing command at a time per workspace.

Commands that write a stage (ingest, segment, prelabel, push, pull, publish, ...) hold an
exclusive `flock` on `.corpus/lock` for their whole run. A second writer is refused at once with
who holds it; readers (`status`, `verify`, ...) never wait, because every writer replaces files
by renaming a uniquely named temporary file into place. The kernel drops a `flock` when its
process dies, so a lock left by a killed command is simply taken over: the holder record in the
file is only for the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corpus.errors import CorpusError

LOCK_NAME = "lock"
TMP_SUFFIX = ".tmp"


class WorkspaceBusy(CorpusError):
    """Another command is writing to the workspace."""

    def __init__(self, command: str, pid: int | None, since: str | None, path: Path):
        who = f"{command} (pid {pid})" if pid else command
        super().__init__(
            f"workspace busy: {who} since {since or 'an unknown time'}",
            f"Wait for it to finish (lock: {path}).",
        )
        self.command, self.pid, self.since = command, pid, since


def temp_path(path: Path) -> Path:
    """A fresh temporary name next to `path`, unique per process and call.

    Two writers never share a temporary file, and a reader never sees one: it is hidden
    (leading dot) and renamed over `path` only once complete.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")


def alive(pid: int) -> bool:
    """Whether process `pid` runs (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(*folders: Path) -> int:
    """Delete temporary files left by killed processes (their pid no longer runs)."""
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in folder.glob(f".*{TMP_SUFFIX}"):
            try:
                pid = int(p.name[: -len(TMP_SUFFIX)].rsplit(".", 1)[1].split("-", 1)[0])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not alive(pid):
                p.unlink(missing_ok=True)
                removed += 1
    return removed


STAGING_MARK = "-staging-"  # scratch folders for Ray: NAME-staging-PID (Workspace.staging)


def staging_name(kind: str) -> str:
    """The name of this process's scratch folder for `kind`: `remove_stale_staging` recognises
    it (and its owner's pid) once the process is gone."""
    return f"{kind}{STAGING_MARK}{os.getpid()}"


def remove_stale_staging(*folders) -> int:
    """Delete Ray staging folders left by killed commands (their pid no longer runs); the
    folders may be local or remote (anything with pathlib's `iterdir`)."""
    removed = 0
    for folder in folders:
        try:
            children = list(folder.iterdir()) if folder.is_dir() else []
        except OSError:
            continue
        for p in children:
            _, mark, pid = p.name.rpartition(STAGING_MARK)
            if not mark or not pid.isdigit() or int(pid) == os.getpid() or alive(int(pid)):
                continue
            if isinstance(p, Path):
                shutil.rmtree(p, ignore_errors=True)
            else:  # a remote folder (UPath): its filesystem removes it, prefix and all
                p.fs.rm(p.path, recursive=True)
            removed += 1
    return removed


def _holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def workspace_lock(state_dir: Path, command: str) -> Iterator[Path]:
    """Hold the exclusive lock of the workspace whose state folder is `state_dir`.

    Raises WorkspaceBusy at once (no waiting) when another live process holds it.
    """
    state_dir = Path(state_dir)
    path = state_dir / LOCK_NAME
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CorpusError(
            f"Cannot create the workspace lock {path}: {e.strerror}.",
            "The workspace must be writable to run this command.",
        ) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            h = _holder(fd)
            # The holder writes its record just after it takes the lock: give it a moment, so
            # the message names it rather than "another command".
            deadline = time.monotonic() + 2.0
            while not h.get("pid") and time.monotonic() < deadline:
                time.sleep(0.02)
                h = _holder(fd)
            raise WorkspaceBusy(h.get("command", "another command"), h.get("pid"),
                                h.get("since"), path) from None  # fmt: skip
        record = {
            "command": command,
            "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        try:
            yield path
        finally:
            # Unlock explicitly: a forked worker sharing the descriptor must not keep it held.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
