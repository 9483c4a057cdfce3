"""The `rasp` command: its front ends, kept apart from the library as lark keeps its tools.

One module per subcommand, each `main(argv, out, err) -> int`; common.py holds what they
share (the exit codes, the argument parser, finding and running the program, NAME, --vocab).
No module of the library imports this package.

    rasp FILE.rasp | -c CODE | < FILE | (a terminal)      run.py: scripts, piped input, REPL
    rasp FILE --name NAME --inputs INPUTS                  run.py: NAME on every input line
    rasp analyze FILE NAME [--json] [--example INPUT]      analyze.py
    rasp compile FILE NAME --vocab V --max-len N [...]     compile.py (rasp.compiler)
    rasp train FILE NAME [...]                             train.py (rasp.train, PyTorch)
    rasp dataset FILE NAME --out DIR [...]                 dataset.py (rasp.train, rasp.dataset)
    rasp generate FILE NAME --prompt P [...]               generate.py (rasp.generation)
    rasp verify DIR [--dtype float32]                      verify.py (rasp.interop)
    rasp export M.npz --to FORMAT DIR [...]                export.py (rasp.interop)
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import TextIO

from ..interpreter import PYTHON_RECURSION_LIMIT, default_memory_limit
from ..runner import OutputFailed
from . import analyze, compile, dataset, export, generate, run, train, verify
from .common import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE, Main

__all__ = ["SUBCOMMANDS", "entry", "main", "prepare_process"]

# `rasp COMMAND ...`: each subcommand's entry, and its usage and purpose as `rasp --help`
# lists them. A new subcommand is one module and one entry here.
SUBCOMMANDS: dict[str, tuple[Main, str, str]] = {
    "analyze": (analyze.main, "FILE NAME [--json] [--example INPUT]",
                "the layers and attention heads that an s-op needs"),
    "compile": (compile.main, "FILE NAME --vocab V --max-len N [--out M.npz|DIR] [--format F] "
                "[--causal]", "the s-op compiled into transformer weights (docs/compiling.md)"),
    "verify": (verify.main, "DIR [--dtype float32]",
               "a shared model folder checked again against its program (docs/interop.md)"),
    "export": (export.main, "M.npz --to safetensors|transformer-lens DIR [--program FILE]",
               "a model file as a shared folder or TransformerLens weights (docs/interop.md)"),
    "train": (train.main, "FILE NAME [--ablations] [...]",
              "train a transformer to follow the s-op (docs/training.md)"),
    "dataset": (dataset.main, "FILE NAME --out DIR [...]",
                "inputs, outputs and attention targets for training (docs/training.md)"),
    "generate": (generate.main, "FILE NAME --prompt P [--steps N] [--until TOKEN] [--causal]",
                 "the s-op's value at the last position appended, step by step "
                 "(docs/causal.md)"),
}


def main(argv: list[str] | None = None, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The command line; the streams can be replaced (the tests run it in-process)."""
    argv = sys.argv[1:] if argv is None else argv
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        default_memory_limit()
    except ValueError as e:
        err.write(f"rasp: {e}\n")
        return EXIT_USAGE
    try:
        if argv[:1] and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]][0](argv[1:], out, err)
        listing = "\n".join(f"  rasp {name} {usage}\n      {text}"
                            for name, (_, usage, text) in SUBCOMMANDS.items())
        return run.main(argv, out, err, stdin=stdin or sys.stdin, subcommands=listing)
    except KeyboardInterrupt:  # Ctrl-C in a script, piped input or a command: it ends them
        err.write("KeyboardInterrupt\n")
        return EXIT_INTERRUPTED
    except OutputFailed as e:  # stdout on a full disk (/dev/full)
        err.write(f"rasp: cannot write the output: {e}\n")
        return EXIT_USAGE


def prepare_process() -> None:
    """What the `rasp` process sets for itself (a program importing rasp is left alone, and
    may call this to get the same).

    The evaluator recurses over the syntax tree and RASP calls: deeply nested programs need
    more than Python's default recursion limit. And the kernels allocate and free many arrays
    of a few hundred KB to a few MB: glibc maps each one apart from the heap and gives it
    back to the system as soon as it is freed, and the next allocation faults it in again,
    page by page. That doubled the time of a sort of 500 tokens here, and of reverse at 10^6
    tokens. Arrays of up to 32 MB (glibc's most) come from the heap instead, and up to 64
    MB of freed heap is kept for reuse. (Setting any of these stops glibc from raising its
    mapping threshold by itself, so all three are set.)"""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), PYTHON_RECURSION_LIMIT))
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None)
            libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
            libc.mallopt(-2, 16 << 20)  # M_TOP_PAD
            libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):  # not glibc: leave the allocator as it is
            pass


def entry() -> None:
    """The console script `rasp` (and `python -m rasp`)."""
    prepare_process()
    try:
        sys.exit(main())
    except BrokenPipeError:
        # Stop quietly, as a program killed by SIGPIPE does; output still buffered must not
        # fail again when Python flushes it at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
