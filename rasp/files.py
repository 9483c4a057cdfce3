"""The one way rasp writes its output files, so that nothing is lost, overwritten or mixed.

- `atomic(path)` / `write_atomic(path, data)`: a file is written to a temporary name beside
  it, flushed to disk, and renamed into place (`os.replace`). Whatever stops the write, an
  exception, Ctrl-C or a full disk, the old file is left as it was and the temporary is
  removed; a killed process leaves at most a `.NAME.*.tmp` file, never a truncated NAME.
- `json_text(value)`: the JSON every command writes or prints. JSON has no NaN or infinity:
  they are written as null (Python's json would write `NaN`, which no JSON reader takes).
- `claim_folder(path, kind, files, manifest)`: one run at a time owns an output folder. It
  holds the lock file `.rasp-lock` (created with O_CREAT|O_EXCL, holding its process id and
  host) while it writes; a second run is refused with the holder's id. A folder that holds
  another run's files is refused unless `force` (replace them) or `resume` (keep them). The
  run's manifest is removed before anything else changes and written last, by the run, so a
  folder with a manifest always holds one complete run.

docs/cli.md, "Output files and folders", states these rules for users. Errors are
`OutputError`s with one line naming the path; a failed write raises the OSError itself.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from .errors import RaspError

__all__ = ["OutputError", "FolderLockedError", "FolderTakenError", "OutputFolder", "LOCK",
           "atomic", "write_atomic", "claim_folder", "temporary_name", "json_text"]

LOCK = ".rasp-lock"


def json_text(value: Any, **options: Any) -> str:
    """`json.dumps(value, **options)`, with NaN and infinities (floats or numpy's) as null."""
    return json.dumps(_finite(value), allow_nan=False, **options)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):  # numpy's floats are floats
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


class OutputError(RaspError):
    """An output file or folder that cannot be written as asked (no position: it is about a
    path, not about a program)."""


class FolderLockedError(OutputError):
    """Another run, alive, holds the folder's lock."""


class FolderTakenError(OutputError):
    """The folder holds another run's files, and neither force nor resume was given."""


def temporary_name(path: Path) -> Path:
    """A fresh name beside `path` for its temporary: `.NAME.<random>.tmp`."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """A file object to write `path` through ("w" text, "wb" bytes): renamed into place when
    the block ends, removed (and the old file kept) when it raises anything."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic writes text ('w') or bytes ('wb'), not {mode!r}")
    target = Path(path)
    temporary = temporary_name(target)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, mode, encoding=None if mode == "wb" else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:  # Ctrl-C too: the old file stays, the temporary goes
        with suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_folder(target.parent)


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write `data` to `path` atomically (see `atomic`); returns the path."""
    with atomic(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return Path(path)


def _sync_folder(folder: Path) -> None:
    """Make a rename durable (where the system lets a folder be opened and synced)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class OutputFolder:
    """A folder this process owns until `release()` (or the end of a `with` block)."""

    def __init__(self, path: Path, kind: str, notes: list[str]):
        self.path = path
        self.kind = kind
        self.notes = notes  # what claiming it did that a user may want to know
        self._lock = path / LOCK

    def release(self) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self._lock)

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_folder(path: str | Path, kind: str, files: Iterable[str], manifest: str,
                 force: bool = False, resume: bool = False,
                 resumable: bool = False) -> OutputFolder:
    """Own the output folder `path` (made if missing) for one run of `kind` ("dataset",
    "training run"). `files` are the names a run of this kind writes there, `manifest` the
    one written last. If some are there already, the folder is refused (FolderTakenError)
    unless `resume` (they stay, for the run to reuse) or `force` (they are removed now);
    either way the manifest goes first. The temporaries of `files` that a killed run left
    are removed. FolderLockedError if another live run holds it; OutputError if `path` is a
    file. Release the folder with `release()` or a `with` block.
    `resumable`: whether the refusal offers --resume (runs of this kind can be finished)."""
    folder, files = Path(path), tuple(files)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    notes = _lock(folder)
    try:
        found = sorted(name for name in files if (folder / name).exists())
        if found and not (force or resume):
            raise FolderTakenError(_taken(folder, kind, found, manifest, resumable))
        _remove_temporaries(folder, files)
        if force or resume:
            _remove(folder / manifest)
        if force:
            for name in found:
                _remove(folder / name)
            if found:
                notes.append(f"removed the earlier {kind}'s files in {folder}: "
                             f"{', '.join(found)}")
    except BaseException:
        os.unlink(folder / LOCK)
        raise
    return OutputFolder(folder, kind, notes)


def _remove_temporaries(folder: Path, files: Iterable[str]) -> None:
    """The temporaries of `files` that a killed run left (no run writes them now: the
    folder is locked)."""
    pattern = re.compile("|".join(rf"\.{re.escape(name)}\.[0-9a-f]{{8}}\.tmp" for name in files))
    for path in folder.iterdir():
        if pattern.fullmatch(path.name):
            path.unlink(missing_ok=True)


def _taken(folder: Path, kind: str, found: list[str], manifest: str, resumable: bool) -> str:
    state = "a complete" if manifest in found else "an unfinished"
    return (f"{folder} holds {state} {kind} ({', '.join(found)}): choose another folder, "
            f"or --force to replace it" + (", or --resume to finish it"
                                            if resumable else ""))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with suppress(FileNotFoundError):
            path.unlink()


def _lock(folder: Path) -> list[str]:
    """Create the lock file, or take over one left by a process that is gone; the notes."""
    lock, notes = folder / LOCK, []
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is None or not _gone(holder):
                raise FolderLockedError(_held(folder, holder)) from None
            with suppress(FileNotFoundError):
                os.unlink(lock)  # the run that made it was killed: its lock means nothing
            notes.append(f"removed the lock of process {holder[0]}, which no longer runs")
            continue
        with os.fdopen(descriptor, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        return notes
    raise FolderLockedError(_held(folder, _holder(lock)))


def _holder(lock: Path) -> tuple[int, str] | None:
    """(process id, host) written in a lock file; None if it cannot be read."""
    try:
        pid, host = lock.read_text(encoding="utf-8").split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _gone(holder: tuple[int, str]) -> bool:
    """Whether the lock's process has ended (only knowable for a process on this host)."""
    pid, host = holder
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _held(folder: Path, holder: tuple[int, str] | None) -> str:
    who = (f"process {holder[0]} on {holder[1]}" if holder is not None
           else "a process that left no id")
    return (f"{folder} is in use by another run ({who} holds {folder / LOCK}); if no run is "
            f"writing there, remove that file")
