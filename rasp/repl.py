"""The interactive REPL: `rasp` with a terminal on stdin.

A prompt_toolkit session reads one entry at a time. Enter runs the entry when the grammar says
it is complete (or can never be: then its positioned error is shown) and opens a new line while
it is incomplete (`runner.entry_status`). Entries run through `runner.enter`, as piped
input does, so both print the same. The pieces are built by `make_session`, which takes its input,
output and history from the caller, so that tests can drive it through a pipe.

Besides RASP statements and the original's REPL commands, the runner answers two
meta-commands before parsing: `help`, and `names` / `names all` (what is defined, by kind).
Neither is RASP: a bare `help` or `names` can never be a complete RASP statement, so they
take nothing away.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO, cast

from prompt_toolkit import PromptSession
from prompt_toolkit.application.current import get_app
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, has_focus
from prompt_toolkit.history import FileHistory, History, InMemoryHistory, ThreadedHistory
from prompt_toolkit.input import Input, create_pipe_input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.output import Output, create_output
from prompt_toolkit.shortcuts import ProgressBar

from . import __version__
from .display import colour_diagnostic, colour_wanted, kind_of
from .env import example_library
from .highlight import BUILTIN_FORMS, COMMANDS, KEYWORDS, RaspLexer
from .interpreter import Interpreter
from .parser import ends_in
from .runner import (
    EXIT_INTERNAL,
    EXIT_OK,
    Ran,
    enter,
    entry_status,
    gave_up,
    line_writer,
    report_internal,
)

__all__ = ["Repl", "RaspCompleter", "make_session",
           "history_path", "open_history", "progress_bar", "run_repl"]

PROMPT, CONTINUATION, INDENT = ">> ", ".. ", "    "
MAX_FAILURES = 3  # internal errors in a row after which the REPL gives up instead of spinning
INTERRUPTED = "interrupted: the entry was stopped (what it defined before stays defined)\n"

BANNER = f"""RASP {__version__}
running example is: hello
help: commands and a primer; names: what is defined; Ctrl-D: leave
"""

# ---------------------------------------------------------------- completion

_WORD = re.compile(r"[A-Za-z_]\w*$")
_LOAD = re.compile(r'\bload\s+"([^"]*)$')
_META_WORDS = {"help": "REPL help", "names": "REPL listing"}


class RaspCompleter(Completer):
    """Tab completion: keywords, the REPL commands, built-ins, and every name bound at the
    moment (the library's, the session's, those brought in by `load`), each shown with its
    kind; inside `load "`, the files it can load."""

    def __init__(self, interpreter: Interpreter):
        self.interpreter = interpreter

    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterator[Completion]:
        before = document.current_line_before_cursor
        path = _LOAD.search(before)
        if path:
            yield from _loadable(path[1])
            return
        if ends_in(before) != "code":  # nothing to complete in a string or a comment
            return
        statement = re.split(r"[;{}]", before)[-1].lstrip()
        commands = [c for c in COMMANDS if c.startswith(statement) and c != statement]
        if statement:
            for command in commands:
                yield Completion(command, -len(statement), display_meta="command")
        word = _WORD.search(before)
        if word is None or (commands and " " in statement):
            return
        prefix, offered = word[0], set(commands)
        for name, meta in sorted(self._words().items()):
            if name.startswith(prefix) and name != prefix and name not in offered:
                yield Completion(name, -len(prefix), display_meta=meta)

    def _words(self) -> dict[str, str]:
        words = {w: "keyword" for w in KEYWORDS}
        words.update({w: "built-in" for w in BUILTIN_FORMS})
        words.update(_META_WORDS)
        for env in (self.interpreter.base, self.interpreter.env):
            words.update({name: _kind(value) for name, value in env.vars.items()})
        return words


def _kind(value: Any) -> str:
    kind = kind_of(value)
    return f"function({', '.join(value.params)})" if kind == "function" else kind


def _loadable(prefix: str) -> Iterator[Completion]:
    """The names `load` finds: .rasp files under the current folder, then the examples."""
    folder = prefix.rpartition("/")[0]
    found: dict[str, str] = {}
    for base, meta in ((Path.cwd(), "file"), (example_library(), "example")):
        where = base / folder
        if not where.is_dir():
            continue
        for file in sorted(where.glob("*.rasp")):
            name = f"{folder}/{file.stem}" if folder else file.stem
            if name.startswith(prefix):
                found.setdefault(name, meta)
    for name, meta in found.items():
        yield Completion(name, -len(prefix), display_meta=meta)


# ---------------------------------------------------------------- keys

def _bindings() -> KeyBindings:
    bindings = KeyBindings()
    editing = has_focus(DEFAULT_BUFFER)

    @Condition
    def at_indentation() -> bool:
        return not get_app().current_buffer.document.current_line_before_cursor.strip()

    @bindings.add("enter", filter=editing)
    def _(event: KeyPressEvent) -> None:
        """Run the entry if it is complete or invalid; otherwise start a new line."""
        buffer = event.current_buffer
        if buffer.complete_state:
            completion = buffer.complete_state.current_completion
            if completion:
                buffer.apply_completion(completion)
            else:
                buffer.cancel_completion()
            return
        document = buffer.document
        if document.text_after_cursor.strip() and not document.on_last_line:
            _new_line(buffer)  # editing an earlier line of the entry
        elif entry_status(document.text) == "incomplete" and not gave_up(document.text):
            _new_line(buffer)
        else:
            buffer.validate_and_handle()

    @bindings.add("tab", filter=editing & at_indentation)
    def _(event: KeyPressEvent) -> None:
        """Indent, at the start of a line (elsewhere Tab completes)."""
        _indent(event.current_buffer, INDENT)

    @bindings.add(" ", filter=editing & at_indentation)
    def _(event: KeyPressEvent) -> None:
        _indent(event.current_buffer, " ")

    @bindings.add("}", filter=editing & at_indentation)
    def _(event: KeyPressEvent) -> None:
        """A closing brace goes back one level of indentation."""
        buffer = event.current_buffer
        spaces = len(buffer.document.current_line_before_cursor)
        buffer.delete_before_cursor(min(spaces, len(INDENT)))
        buffer.insert_text("}")

    return bindings


# The indentation Enter put on a new line, by buffer: (its row, the indentation, how many of
# its spaces typed spaces may still stand for).
_AUTO_INDENT: weakref.WeakKeyDictionary[Buffer, list] = weakref.WeakKeyDictionary()


def _new_line(buffer: Buffer) -> None:
    """A new line indented like the current one, one level more after an opening brace."""
    before = buffer.document.current_line_before_cursor
    margin = before[: len(before) - len(before.lstrip())]
    extra = INDENT if before.rstrip().endswith("{") else ""
    buffer.insert_text("\n" + margin + extra)
    _AUTO_INDENT[buffer] = [buffer.document.cursor_position_row, margin + extra,
                            len(margin + extra)]


def _indent(buffer: Buffer, text: str) -> None:
    """Spaces typed at the start of a line Enter has just indented stand for that indentation
    (typing a body key by key gives what pasting it gives); further ones are inserted."""
    document = buffer.document
    auto = _AUTO_INDENT.get(buffer)
    if (auto and auto[0] == document.cursor_position_row and auto[2] >= len(text)
            and document.current_line_before_cursor == auto[1]):
        auto[2] -= len(text)
        return
    _AUTO_INDENT.pop(buffer, None)
    buffer.insert_text(text)


def _continuation(width: int, line_number: int, wrap_count: int) -> str:
    """`.. ` in front of the further lines of an entry; blank where a long line wraps."""
    return " " * width if wrap_count else CONTINUATION.rjust(width)


def make_session(interpreter: Interpreter, input: Input | None = None,
                 output: Output | None = None, history: History | None = None
                 ) -> PromptSession[str]:
    """The prompt: multi-line entries, RASP highlighting, completion of what `interpreter`
    knows, suggestions and search from `history` (in memory when not given)."""
    return PromptSession(
        message=PROMPT, prompt_continuation=_continuation, multiline=True,
        key_bindings=_bindings(), lexer=PygmentsLexer(RaspLexer),
        completer=RaspCompleter(interpreter), complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(), enable_history_search=True,
        search_ignore_case=True, history=history if history is not None else InMemoryHistory(),
        input=input, output=output)


# ---------------------------------------------------------------- progress

@contextlib.contextmanager
def progress_bar(stream: TextIO, total: int, label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on the terminal `stream`, for a long run outside the REPL (a batch of
    inputs); yields the callback that moves it, with (done, total). No keys are read (stdin
    may hold the inputs: an empty pipe stands in), nor is the terminal asked where its cursor
    is (its answer would arrive on stdin)."""
    output = create_output(stdout=stream)
    if hasattr(output, "enable_cpr"):
        output.enable_cpr = False
    with create_pipe_input() as keys, ProgressBar(output=output, input=keys) as bar:
        counter: Any = bar(label=label, total=total)

        def show(done: int, total: int) -> None:
            counter.items_completed = done
            bar.invalidate()
        yield show
        counter.done = True


# ---------------------------------------------------------------- history

def history_path(flag: str | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the history lives: `--history-file`, else $RASP_HISTORY, else the user's data
    folder. An empty path means no file (the history is kept in memory)."""
    for choice in (flag, environ.get("RASP_HISTORY")):
        if choice is not None:
            return Path(choice).expanduser() if choice else None
    import platformdirs  # only here: the other paths need not pay for it

    return Path(platformdirs.user_data_dir("rasp")) / "history"


def open_history(path: Path | None, warn: Callable[[str], Any]) -> History:
    """A file history read in the background (start-up does not wait for it); in memory, with
    a warning, when the file cannot be written."""
    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        open(path, "ab").close()  # it can be written (touch passes a read-only file)
    except OSError as e:
        warn(f"rasp: the history is not kept: cannot write {path}: {e.strerror or e}")
        return InMemoryHistory()
    return ThreadedHistory(_KeptHistory(str(path), warn))


class _KeptHistory(FileHistory):
    """prompt_toolkit's file history, where a write or read that fails later (the file made
    read-only, a full disk) warns once and leaves the history in memory: never a traceback
    after every Enter."""

    def __init__(self, filename: str, warn: Callable[[str], Any]):
        super().__init__(filename)
        self.path = filename  # as given: a str (FileHistory.filename may be bytes)
        self._warn = warn
        self._kept = True

    def store_string(self, string: str) -> None:
        if not self._kept:
            return
        try:
            super().store_string(string)
        except OSError as e:
            self._kept = False
            self._warn(f"rasp: the history is no longer kept: cannot write {self.path}: "
                       f"{e.strerror or e}")

    def load_history_strings(self) -> Iterable[str]:
        try:
            yield from super().load_history_strings()
        except OSError as e:
            self._warn(f"rasp: the earlier history is not read: {self.path}: "
                       f"{e.strerror or e}")


# ---------------------------------------------------------------- the loop

class Repl:
    """Reads entries from `session` and runs them in `interpreter`. Errors are printed and the
    session goes on; only `exit`, `quit` or Ctrl-D end it."""

    def __init__(self, interpreter: Interpreter, session: PromptSession[str], out: TextIO,
                 err: TextIO, show_traceback: bool = False):
        self.interpreter, self.session = interpreter, session
        self.out, self.err = out, err
        self.show_traceback = show_traceback
        self.lines = 0  # lines read so far: errors are numbered over the whole session

    def run(self) -> int:
        """The session, until `exit` or Ctrl-D; returns the exit code."""
        self.out.write(BANNER)
        failures, interrupted = 0, False
        while True:
            try:
                if interrupted:  # said here, where a second Ctrl-C cannot end the session
                    interrupted = False
                    self.err.write(INTERRUPTED)
                    self.err.flush()
                if not self.step():
                    break
                failures = 0
            except KeyboardInterrupt:  # Ctrl-C during an evaluation (or while telling it)
                interrupted = True
            except Exception as e:  # a bug of ours outside an evaluation: say so, go on
                report_internal(e, self.err, self.show_traceback)
                failures += 1
                if failures >= MAX_FAILURES:
                    return EXIT_INTERNAL
        return EXIT_OK

    def step(self) -> bool:
        """Read and run one entry; False at the end of the input (Ctrl-D) or of the session
        (`exit`)."""
        try:
            text = self.session.prompt()
        except EOFError:
            return False
        except KeyboardInterrupt:  # Ctrl-C at the prompt: the entry is dropped, silently
            return True
        return not self.execute(text).exited

    def execute(self, text: str) -> Ran:
        first = self.lines + 1
        self.lines += text.count("\n") + 1
        ran = enter(self.interpreter, text, "<stdin>", first, self.out, self.err,
                    self.show_traceback, self.interpreter.settings.colour,
                    shutil.get_terminal_size().columns)
        self.out.flush()
        return ran


class _Painted(io.TextIOBase):
    """An error stream whose messages are coloured (display.colour_diagnostic)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(colour_diagnostic(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def run_repl(out: TextIO, err: TextIO, history_file: str | None = None,
             show_traceback: bool = False) -> int:
    """`rasp` on a terminal: colour unless NO_COLOR, history in a file, the loop."""
    # Ctrl-C must stop an evaluation even if rasp started with SIGINT ignored (as a background
    # job of a shell without job control does): on its terminal, the REPL owns Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    errors = cast(TextIO, _Painted(err)) if colour_wanted(err) else err
    interpreter = Interpreter(out=line_writer(out), warn=line_writer(errors), interactive=True)
    interpreter.settings.colour = colour_wanted(out)
    history = open_history(history_path(history_file), line_writer(errors))
    # `rasp > log`: results go to the file, the prompt to the terminal (stderr), as in Python
    terminal = create_output(always_prefer_tty=True)
    session = make_session(interpreter, output=terminal, history=history)
    return Repl(interpreter, session, out, errors, show_traceback).run()
