"""A run's folder: which files make one complete run, their checksums, the program the run
was made from (found again and checked), and the machine it ran on. No torch: the files are
read and checked here, the model is loaded in model.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from pathlib import Path
from typing import Any

from ..errors import RaspValueError

__all__ = ["MANIFEST", "PLOTS", "RUN_FILES", "environment", "manifest", "program_file",
           "sha256"]

MANIFEST = "config.json"  # written last: a folder with it holds one complete run
RUN_FILES = ("model.pt", "history.jsonl", "metrics.json", MANIFEST)
PLOTS = "plots"  # written after a run by the command line; a rerun removes them
PACKAGE = Path(__file__).resolve().parent.parent


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(folder: Path) -> dict:
    """config.json, once every file it lists is there with the SHA-256 it records."""
    path = folder / MANIFEST
    if not path.is_file():
        raise RaspValueError(f"{folder} holds no complete training run (no {MANIFEST}: the "
                             "run did not finish, or this is not a run's folder)")
    try:
        described = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise RaspValueError(f"{path}: not JSON ({e})") from None
    sums = described.get("files") if isinstance(described, dict) else None
    if not isinstance(sums, dict):
        raise RaspValueError(f"{path} lists no files with their SHA-256: not a training run's "
                             "config.json, or one written before rasp checked runs whole")
    for name in RUN_FILES:
        if name == MANIFEST:
            continue
        if not (folder / name).is_file():
            raise RaspValueError(f"{folder} is not one complete run: {name} is missing")
        if sha256(folder / name) != sums.get(name):
            raise RaspValueError(f"{folder} is not one complete run: {name} is not the file "
                                 f"{MANIFEST} lists (the folder mixes runs)")
    return described


def program_file(data: dict, folder: Path) -> str:
    """The program a run was trained on, wherever the run is loaded from: its absolute path
    as the run recorded it, else its path as given, from the current folder. The file must
    be the one the run read (its SHA-256): an edited program would make other data and
    decode the outputs with other labels."""
    given = data["file"]
    if given is None:
        raise RaspValueError(f"{folder}: the run's program came from a session, not a file: "
                             "it cannot be made again")
    found = [p for p in dict.fromkeys((data.get("path"), given)) if p and Path(p).is_file()]
    if not found:
        raise RaspValueError(f"{folder}: the run's program {given} is not there (nor at "
                             f"{data.get('path') or given})")
    for path in found:
        text = Path(path).read_text(encoding="utf-8")
        if hashlib.sha256(text.encode()).hexdigest() == data["program_sha256"]:
            return path
    raise RaspValueError(f"{found[0]}: the program changed since the run in {folder} (its "
                         "SHA-256 is not the one config.json records): its data and output "
                         "labels would not be the run's")


def environment(threads: int, device: str) -> dict:
    """What the numbers of a run depend on beyond its options: threads, the code's commit,
    the CPU (and the GPU), the platform."""
    out: dict[str, Any] = {"threads": threads, "commit": _commit(), "cpu": _cpu(),
                           "platform": platform.platform(), "device": device}
    if device.startswith("cuda"):
        import torch

        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def _commit() -> str | None:
    """The git commit of this rasp's checkout, read from its .git files (rasp runs no
    program for it), or None where rasp is not a git checkout (an installed wheel) or the
    files are not as expected. Uncommitted changes are not seen: the commit is where the
    code came from, not a proof that it is unchanged."""
    try:
        dot = PACKAGE.parent / ".git"
        git = dot if dot.is_dir() else Path(dot.read_text().removeprefix("gitdir:").strip())
        common = git / (git / "commondir").read_text().strip() \
            if (git / "commondir").is_file() else git  # a worktree's refs are in the main one
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head if re.fullmatch(r"[0-9a-f]{40}", head) else None  # detached
        ref = head.removeprefix("ref:").strip()
        for folder in (git, common):
            if (folder / ref).is_file():
                return (folder / ref).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except (OSError, ValueError):
        pass
    return None


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
