"""rasp.files: an interrupted write leaves the old file, one run at a time owns an output
folder, and a folder holding another run's files is refused unless force or resume."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rasp.files import (
    LOCK,
    FolderLockedError,
    FolderTakenError,
    OutputError,
    atomic,
    claim_folder,
    write_atomic,
)

ROOT = Path(__file__).resolve().parent.parent
RUN_FILES = ("model.pt", "metrics.json", "plots", "config.json")


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# ---------------------------------------------------------------- atomic writes

def test_a_write_replaces_the_file_whole_and_returns_its_path(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    assert write_atomic(target, "new\n") == target
    assert target.read_text() == "new\n"
    assert write_atomic(target, b"\x00bytes") == target
    assert target.read_bytes() == b"\x00bytes"
    assert names(tmp_path) == {"out.json"}  # no temporary left beside it


def test_a_new_file_gets_the_usual_permissions_not_a_temporary_files(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "shared.npz", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.npz").stat().st_mode) == 0o644


@pytest.mark.parametrize("stop", [ValueError("the writer failed"), KeyboardInterrupt()],
                         ids=["an exception", "Ctrl-C"])
def test_a_write_stopped_midway_leaves_the_old_file_and_no_temporary(tmp_path, stop):
    target = tmp_path / "model.npz"
    target.write_bytes(b"the previous good model")
    with pytest.raises(type(stop)):
        with atomic(target, "wb") as f:
            f.write(b"half of a new mo")
            raise stop
    assert target.read_bytes() == b"the previous good model"
    assert names(tmp_path) == {"model.npz"}


def test_a_full_disk_is_the_writes_oserror_and_the_old_file_stays(tmp_path, monkeypatch):
    target = tmp_path / "train.jsonl"
    target.write_text("old rows\n")


    def full(descriptor: int) -> None:  # the data reaches the disk at fsync, or does not
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        with atomic(target) as f:
            f.write("new row\n")
    assert target.read_text() == "old rows\n"
    assert names(tmp_path) == {"train.jsonl"}


def test_a_folder_in_the_way_is_refused_and_nothing_is_left(tmp_path):
    (tmp_path / "model.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "model.npz", b"weights")
    assert names(tmp_path) == {"model.npz"}
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "model.npz", b"weights")


# ---------------------------------------------------------------- one run per folder

def test_a_second_claim_of_a_held_folder_is_refused_with_who_holds_it(tmp_path):
    with claim_folder(tmp_path / "run", "training run", RUN_FILES, "config.json") as first:
        assert (tmp_path / "run" / LOCK).read_text().split()[0] == str(os.getpid())
        with pytest.raises(FolderLockedError) as refused:
            claim_folder(tmp_path / "run", "training run", RUN_FILES, "config.json")
        assert str(refused.value) == (
            f"error: {tmp_path / 'run'} is in use by another run (process {os.getpid()} on "
            f"{socket.gethostname()} holds {tmp_path / 'run' / LOCK}); if no run is writing "
            "there, remove that file")
        assert first.notes == []
    assert not (tmp_path / "run" / LOCK).exists()  # released: the next run may claim it
    claim_folder(tmp_path / "run", "training run", RUN_FILES, "config.json").release()


HOLDER = """
import sys
from rasp.files import claim_folder
claim = claim_folder(sys.argv[1], "dataset", ["dataset.json"], "dataset.json")
print("claimed", flush=True)
sys.stdin.read()
"""


def _holder(folder: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None and process.stdout.readline() == "claimed\n"
    return process


def test_a_run_in_another_process_is_refused_and_its_lock_goes_when_it_is_killed(tmp_path):
    process = _holder(tmp_path)
    try:
        with pytest.raises(FolderLockedError, match=f"process {process.pid} on "):
            claim_folder(tmp_path, "dataset", ["dataset.json"], "dataset.json")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert (tmp_path / LOCK).exists()  # a killed run cannot remove its lock...
    claim = claim_folder(tmp_path, "dataset", ["dataset.json"], "dataset.json")
    assert claim.notes == [f"removed the lock of process {process.pid}, which no longer runs"]
    claim.release()


CLAIMANT = """
import sys, time
from rasp.files import FolderLockedError, claim_folder
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
try:
    claim_folder(sys.argv[1], "dataset", ["dataset.json"], "dataset.json")
except FolderLockedError:
    print("refused")
else:
    print("claimed")
    time.sleep(1)
"""


def test_of_runs_that_start_at_once_exactly_one_gets_the_folder(tmp_path):
    start = time.time() + 2  # once every process has imported rasp
    processes = [subprocess.Popen([sys.executable, "-c", CLAIMANT, str(tmp_path), str(start)],
                                  stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
                 for _ in range(4)]
    said = sorted(p.communicate(timeout=60)[0].strip() for p in processes)
    assert said == ["claimed", "refused", "refused", "refused"]


def test_a_lock_that_names_no_process_or_another_host_is_not_taken_over(tmp_path):
    (tmp_path / LOCK).write_text("")
    with pytest.raises(FolderLockedError, match="a process that left no id"):
        claim_folder(tmp_path, "dataset", ["dataset.json"], "dataset.json")
    (tmp_path / LOCK).write_text("1 elsewhere.example\n")  # its process cannot be checked
    with pytest.raises(FolderLockedError, match="process 1 on elsewhere.example holds"):
        claim_folder(tmp_path, "dataset", ["dataset.json"], "dataset.json")


def test_a_folder_with_another_runs_files_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "notes.txt").write_text("the user's own file")
    with pytest.raises(FolderTakenError) as refused:
        claim_folder(tmp_path, "training run", RUN_FILES, "config.json")
    assert refused.value.message == (
        f"{tmp_path} holds a complete training run (config.json, model.pt): choose another "
        "folder, or --force to replace it")
    assert names(tmp_path) == {"config.json", "model.pt", "notes.txt"}  # the lock too is gone
    (tmp_path / "config.json").unlink()
    with pytest.raises(FolderTakenError, match=r"holds an unfinished dataset \(model.pt\): "
                       "choose another folder, or --force to replace it, or --resume"):
        claim_folder(tmp_path, "dataset", RUN_FILES, "config.json", resumable=True)


def test_force_removes_the_earlier_runs_files_and_resume_only_its_manifest(tmp_path):
    def earlier_run() -> None:
        (tmp_path / "config.json").write_text("{}")
        (tmp_path / "model.pt").write_bytes(b"weights")
        (tmp_path / "plots").mkdir(exist_ok=True)
        (tmp_path / "plots" / "attention.png").write_bytes(b"png")
        (tmp_path / "notes.txt").write_text("the user's own file")

    earlier_run()
    with claim_folder(tmp_path, "training run", RUN_FILES, "config.json", resume=True):
        assert names(tmp_path) == {"model.pt", "plots", "notes.txt", LOCK}
    earlier_run()
    with claim_folder(tmp_path, "training run", RUN_FILES, "config.json", force=True) as claim:
        assert names(tmp_path) == {"notes.txt", LOCK}
        assert claim.notes == [f"removed the earlier training run's files in {tmp_path}: "
                               "config.json, model.pt, plots"]


def test_a_file_where_the_folder_should_be_is_one_clear_error(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(OutputError) as refused:
        claim_folder(tmp_path / "out", "dataset", ["dataset.json"], "dataset.json")
    assert refused.value.message == f"{tmp_path / 'out'} is not a folder"
