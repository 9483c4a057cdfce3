"""A RASP session: the environments, the running examples, the caches of evaluated values,
and where output goes; the public API (`run`, `evaluate`, `evaluate_batch`, `analyze`).

The language itself (statements, expressions, functions, `load`) is `Evaluator`'s, in
evaluator.py. `Interpreter` is its host: it does what a session does with values (print them,
apply them to inputs through its caches, draw and analyse them) and runs the REPL's commands.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import ast, ops
from .analysis import Analysis, analyze, check
from .display import Settings, format_example, show_application, show_value
from .draw import Flow, file_stem, to_dot, to_text
from .draw import render as draw_files
from .engine import PLAN_FROM, ValueCache, evaluate, input_array
from .env import Env, folder_of
from .errors import (
    RaspError,
    RaspLimitError,
    RaspSyntaxError,
    RaspTypeError,
    RaspValueError,
    Span,
    shorten,
    split_lines,
)
from .evaluator import Evaluator, Exit, limits_at
from .generation import check_steps, generate, shown
from .graph import Node, Selector, SOp, plain
from .outcomes import Analyzed, Built, Drawn, Exited, Generated, Message, Outcome, Shown, render
from .parser import parse
from .values import describe, prepare_input

__all__ = ["Interpreter", "default_memory_limit", "parse_size"]

DEFAULT_MEMORY_LIMIT = 4 << 30
BATCH_CELLS = 1 << 24  # selection cells (inputs x n x n) evaluated in one array, at most
CACHED_INPUTS = 8  # inputs whose evaluated values are kept for reuse
CACHE_BYTES = 32 * 2 ** 20  # the most those values may hold
BUILT_EXPRESSIONS = 64  # expressions whose graphs `evaluate` keeps
# the compile statement keeps the default size limits; the refusal names rasp compile's flag
LIMITS_NOTE = ("the statement compiles with the default limits: they are options of `rasp "
               "compile` (--max-values, --max-table, --max-units, --max-weights) and "
               "of "
               "Interpreter.compile(..., limits=Limits(...))")
PYTHON_RECURSION_LIMIT = 20000  # what the command line sets (cli.entry), for deep programs


def parse_size(text: str) -> int:
    """Bytes from a size such as `512M`, `8G`, `64k` or `1000000`. Raises ValueError."""
    text = text.strip()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    number = text[:-1] if scale > 1 else text
    try:
        size = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (a number of bytes, or one such as 512M "
                         "or 8G)") from None
    if not math.isfinite(size) or size < 1:
        raise ValueError(f"{text!r} is not a size: it must be at least 1 byte")
    return int(size * scale)


def default_memory_limit() -> int:
    """RASP_MEMORY_LIMIT in bytes, with an optional K, M or G suffix; 4G if unset or empty.
    Raises ValueError for a value that is not a size."""
    text = os.environ.get("RASP_MEMORY_LIMIT", "").strip()
    if not text:
        return DEFAULT_MEMORY_LIMIT
    try:
        return parse_size(text)
    except ValueError as e:
        raise ValueError(f"RASP_MEMORY_LIMIT: {e}") from None


class Interpreter:
    """A RASP session, and the host of its evaluator.

    `run(source)` executes a program and returns what it printed; the first error raises
    RaspError. `evaluate(name_or_expression, input)` gives an s-op's output as a Python list
    (a selector's as a list of rows). With `interactive=True` statements print as in the
    original REPL (assignments too, with the running examples); otherwise only expression
    statements print, as in a script.
    """

    # ------------------------------------------------------------ public API

    def __init__(self, out: Callable[[str], Any] | None = None,
                 warn: Callable[[str], Any] | None = None, interactive: bool = False,
                 draw_dir: str | Path | None = "comp_flows", memory_limit: int | None = None,
                 causal: bool = False):
        for name, callback in (("out", out), ("warn", warn)):
            if callback is not None and not callable(callback):
                raise TypeError(f"Interpreter's {name} must be a function taking a line of "
                                f"text, got {type(callback).__name__}")
        if draw_dir is not None and not isinstance(draw_dir, (str, os.PathLike)):
            raise TypeError(f"Interpreter's draw_dir must be a path, got "
                            f"{type(draw_dir).__name__}")
        if memory_limit is not None:
            if isinstance(memory_limit, bool) or not isinstance(memory_limit, int):
                raise TypeError(f"Interpreter's memory_limit must be a number of bytes (an int), "
                                f"got {memory_limit!r}")
            if memory_limit < 1:
                raise ValueError(f"Interpreter's memory_limit must be at least 1 byte, got "
                                 f"{memory_limit}")
        self._out = out
        self._warn = warn or (lambda text: print(text, file=sys.stderr))
        # where draw(...) writes its pictures; None: nowhere (a notebook shows them)
        self.draw_dir = Path(draw_dir) if draw_dir is not None else None
        # bytes of whole selection matrices made at once, at most
        self.memory_limit = memory_limit if memory_limit is not None else default_memory_limit()
        # the input size (selection cells, n x n) from which aggregates are planned (engine.py);
        # None: never
        self.plan_from: int | None = PLAN_FROM
        # causal semantics (`causal on;`): every selection restricted to keys k <= query q
        self.causal = bool(causal)
        self.settings = Settings()  # what the REPL's commands change
        self._sink: Callable[[Outcome], Any] = self._render  # of the call running now
        self._caches: OrderedDict[tuple, ValueCache] = OrderedDict()
        self._built: OrderedDict[str, _Built] = OrderedDict()  # graphs of expressions
        self.evaluator = Evaluator(self, interactive)

    @property
    def env(self) -> Env:
        """The session's variables."""
        return self.evaluator.env

    @property
    def base(self) -> Env:
        """The library's names, below the session's."""
        return self.evaluator.base

    @contextlib.contextmanager
    def _entry(self, sink: Callable[[Outcome], Any] | None = None) -> Iterator[None]:
        """One call into the session from outside, whose outcomes go to `sink` (by default
        rendered as text): however it ends (a result, an error, an interrupt) the call and
        load stacks are empty again for the next one."""
        outer, self._sink = self._sink, sink or self._render
        try:
            yield
        finally:
            self._sink = outer
            self.evaluator.calls.clear()
            self.evaluator.loading.clear()
            self.evaluator.load_sites.clear()

    def run(self, source: str, filename: str = "<string>", first_line: int = 1) -> str:
        """Execute a program; returns the text it printed. `first_line` numbers its first
        line (a REPL entry continues the session's count)."""
        printed: list[str] = []

        def out(line: str) -> None:
            printed.append(line)
            self._write(line)
        self.outcomes(source, filename, first_line, lambda o: render(o, out, self._warn))
        return "\n".join(printed) + ("\n" if printed else "")

    def outcomes(self, source: str, filename: str = "<string>", first_line: int = 1,
                 sink: Callable[[Outcome], Any] | None = None) -> list[Outcome]:
        """Execute a program; its outcomes, in order (outcomes.py). Each goes to `sink` as it
        comes, or by default is rendered as text to the session's `out` and `warn`. The first
        error raises RaspError, after the outcomes before it."""
        if not isinstance(source, str):
            raise TypeError(f"run expects the program's text as a str, got "
                            f"{type(source).__name__}")
        if not isinstance(filename, str) or not isinstance(first_line, int):
            raise TypeError("run's filename must be a str and first_line an int")
        program = parse(source, filename, first_line)
        return self.execute(program.statements, filename, sink)

    def execute(self, statements: Iterable[ast.Stmt], filename: str = "<string>",
                sink: Callable[[Outcome], Any] | None = None) -> list[Outcome]:
        """Run parsed top-level statements of `filename`: `outcomes`, for a caller that
        parsed them (the notebook, which takes its cell's last statement apart)."""
        received: list[Outcome] = []

        def receive(outcome: Outcome) -> None:
            received.append(outcome)
            (sink or self._render)(outcome)
        with self._entry(receive):
            if folder_of(filename) is not None:  # a file: loading it again is a cycle
                self.evaluator.loading.append(Path(filename).resolve())
            try:
                self.evaluator.execute(statements, self.env, top=True,
                                       folder=folder_of(filename))
            except Exit:
                receive(Exited())
        return received

    def evaluate(self, expression: str | Node, example: Any) -> list:
        """Apply the s-op or selector named (or written) by `expression`, or a node built in
        Python (rasp.dsl), to `example`."""
        def applied(value: Any, span: Span) -> list:
            if not isinstance(value, (SOp, Selector)):
                raise RaspTypeError(f"expected an s-op or selector, got {describe(value)}",
                                    span)
            return self.apply(value, example, span).tolist()
        return self._on_built(expression, applied)

    def _on_built(self, expression: str | Node, then: Callable[[Any, Span], Any]) -> Any:
        """`then(value, span)` of an expression whose graph may have been built by an earlier
        call: the same text means the same graph while the names it could reach are bound
        to the same values (the graph's nodes, kept, keep their cached values too)."""
        if isinstance(expression, Node):
            return self._on_expression(expression, then)
        if not isinstance(expression, str):
            raise TypeError(f"expected an expression as a str, got {type(expression).__name__}")
        built = self._built.get(expression)
        if built is None or not built.current(self.env):
            value, span = self._on_expression(expression, lambda v, at: (v, at))
            built = _Built(value, span, self.env)
            if isinstance(value, (SOp, Selector)):
                self._built[expression] = built
                while len(self._built) > BUILT_EXPRESSIONS:
                    self._built.popitem(last=False)
        else:
            self._built.move_to_end(expression)
        with self._entry(), limits_at(built.span):
            return then(built.value, built.span)

    def analyze(self, expression: str | Node) -> Analysis:
        """The layer and head analysis of the s-op named (or written) by `expression`."""
        return self._on_expression(expression, self.analyze_node)

    def analyze_node(self, node: Any, span: Span) -> Analysis:
        """The analysis of an s-op, checked on the running example."""
        if not isinstance(node, SOp):
            raise RaspTypeError(f"analyze expects an s-op, got {describe(node)}", span)
        example = self.settings.examples["s-op"]
        return check(analyze(node), prepare_input(example), format_example(example))

    def compile(self, expression: str | Node, vocab: Any, max_len: int, limits: Any = None,
                causal: bool | None = None, reuse: bool = False) -> Any:
        """The s-op named (or written) by `expression` compiled into a transformer exact on
        every input over `vocab` up to `max_len` tokens: a rasp.compiler.Compiled, whose
        `.model` is the Model and `.verify()` checks it against the interpreter. `causal`
        (by default the session's mode): a decoder, for a program that never reads later
        positions. `reuse`: residual dimensions reused after each s-op's last use, where that
        makes fewer parameters (`rasp compile --reuse-residual`)."""
        causal = self.causal if causal is None else causal
        from .compiler import compile_sop  # numpy weights: loaded only when asked for

        def compiled(node: Any, span: Span) -> Any:
            if not isinstance(node, SOp):
                raise RaspTypeError(f"compile expects an s-op, got {describe(node)}", span)
            name = node.title if isinstance(expression, Node) else expression.strip().rstrip(";")
            try:
                return compile_sop(node, list(vocab), max_len, name, limits, causal, reuse)
            except RaspError as e:
                raise e.at(span) from None
        return self._on_expression(expression, compiled)

    def generate(self, expression: str, prompt: Any, steps: int, until: Any = None,
                 vocab: Sequence[Any] | None = None) -> list:
        """The prompt and up to `steps` tokens, each the value of the s-op `expression` at
        the last position so far, in the session's mode (rasp.generation.generate)."""
        return self._on_expression(expression, lambda node, span: self._generated(
            node, prompt, steps, until, vocab, span))

    def _generated(self, node: Any, prompt: Any, steps: Any, until: Any,
                   vocab: Sequence[Any] | None, span: Span,
                   prompt_span: Span | None = None) -> list:
        if not isinstance(node, SOp):
            raise RaspTypeError(f"generate expects an s-op, got {describe(node)}", span)
        tokens = self._tokens(prompt, prompt_span or span)
        try:
            return generate(lambda seq: self.apply(node, seq, span).tolist()[-1], tokens,
                            check_steps(steps), until, vocab)
        except RaspError as e:
            if e.span is None and node.span not in (None, span) and e.text.startswith("step"):
                e.noted(f"'{node.title}' is made here", node.span)  # a step's refusal
            raise e.at(span) from None

    def _generate(self, stmt: ast.Generate, node: Any, prompt: Any, steps: Any,
                  until: Any) -> Generated:
        """`generate(sop, prompt, steps[, until]);`: the prompt, then what was generated."""
        try:
            check_steps(steps)
        except RaspError as e:
            raise e.at(stmt.steps.span) from None
        tokens = self._generated(node, prompt, steps, until, None, stmt.sop.span,
                                 stmt.prompt.span)
        n = len(prepare_input(prompt))
        return Generated(tuple(tokens), n, (f"\t generated: {shown(prompt, tokens)}",))

    def _compile(self, stmt: ast.Compile, node: Any, vocab: Any, max_len: Any,
                 path: Any, top: bool) -> None:
        """`compile(sop, vocab, max_len[, path]);`: the model's summary and its check against
        the interpreter on every length up to max_len, as `rasp compile` prints them; saved
        to `path` (from the current folder) only if the check passes."""
        if not isinstance(node, SOp):
            raise RaspTypeError(f"compile expects an s-op, got {describe(node)}", stmt.sop.span)
        if not isinstance(vocab, (str, list)):
            raise RaspTypeError("compile's vocabulary is a string of one-character tokens or "
                                f"a list of tokens, got {describe(vocab)}", stmt.vocab.span)
        path_span = stmt.path.span if stmt.path is not None else stmt.span
        if path is not None and not isinstance(path, str):
            raise RaspTypeError(f"compile saves to a path, a string, got {describe(path)}",
                                path_span)
        if path is not None:
            self._check_save_path(path, path_span)
        from .compiler import build, check_max_len, check_vocab  # numpy weights, when asked

        for valid, value, at in ((check_vocab, vocab, stmt.vocab),
                                 (check_max_len, max_len, stmt.max_len)):
            try:
                valid(value)
            except RaspError as e:
                raise e.at(at.span) from None
        try:
            compiled = build(node, list(vocab), max_len, node.title, causal=self.causal)
        except RaspLimitError as e:  # it names a flag of `rasp compile`: say where that is
            raise e.at(stmt.sop.span).noted(LIMITS_NOTE, stmt.span) from None
        except RaspError as e:
            raise e.at(stmt.sop.span) from None
        refusal, failure, saved = compiled.refusal(), None, None
        if refusal is None and path is not None:
            try:
                saved = str(compiled.model.save(path))
            except OSError as e:
                failure = RaspValueError(f"cannot write {path}: {e.strerror or e}", path_span)
        if top:  # the summary and the check, then what went wrong
            self.receive(Built(compiled, saved, (*compiled.lines(), *(
                [f"saved {saved}"] if saved is not None else []))))
        if refusal is not None:
            raise refusal.at(stmt.span)
        if failure is not None:
            raise failure

    def _check_save_path(self, path: str, span: Span) -> None:
        """A program saves models only below the current folder, and only from the file run
        or the entry typed: a file it loads (a library, someone else's) writes nothing."""
        if self.evaluator.load_sites:
            raise RaspValueError("compile saves no model from a loaded file: save it from the "
                                 "program that loads it", span)
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise RaspValueError(f"compile saves only below the current folder: '{path}' is "
                                 "not a relative path without '..'", span)

    def bind(self, name: str, value: Any) -> None:
        """`name = value;` for a value built in Python (an s-op or selector of rasp.dsl), so
        that RASP text (`draw(name);`), `rasp train` and `rasp dataset` can name it."""
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"bind expects a name, got {name!r}")
        with self._entry():
            self.env.assign(name, plain(value) if isinstance(value, Node) else value,
                            getattr(value, "span", None))

    def value(self, expression: str) -> Any:
        """The RASP value of an expression: an atom, list, dict, s-op, selector, function."""
        return self._on_expression(expression, lambda value, span: value)

    def _on_expression(self, expression: str | Node, then: Callable[[Any, Span], Any]) -> Any:
        """`then(value, span)` of an expression, as one call into the session. A graph
        node (built in Python, rasp.dsl) stands for itself, at the span that built it."""
        if isinstance(expression, Node):
            with self._entry(), limits_at(expression.span):  # type: ignore[arg-type]
                return then(plain(expression), expression.span)  # type: ignore[arg-type]
        if not isinstance(expression, str):
            raise TypeError(f"expected an expression as a str, got {type(expression).__name__}")
        text = expression.strip().rstrip(";").rstrip()
        with self._entry():
            program = parse(text + ";", "<expression>", shown=text)
            if len(program.statements) != 1:
                raise RaspSyntaxError("expected one expression", program.span)
            (stmt,) = program.statements
            if not isinstance(stmt, ast.ExprStmt):
                raise RaspTypeError("expected an expression", stmt.span)
            with limits_at(stmt.expr.span):
                return then(self.evaluator.eval_expr(stmt.expr, self.env), stmt.expr.span)

    def evaluate_batch(self, expression: str | Node, inputs: Iterable[Any],
                       progress: Callable[[int, int], Any] | None = None,
                       keep_going: bool = False) -> list:
        """Apply an s-op or selector to many inputs; the outputs as lists, in input order.

        Inputs of one length are evaluated together, as one array with a batch axis. If a
        batch fails, its inputs are evaluated one by one, so that the error names the input
        that caused it: the first such error is raised, or with `keep_going` every input
        that fails gets its RaspError in place of its output, and the others their outputs.
        `progress(done, total)` is called as batches finish."""
        if not isinstance(expression, (str, Node)):
            raise TypeError(f"evaluate_batch expects an expression as a str, got "
                            f"{type(expression).__name__}")
        return self._on_built(
            expression, lambda node, span: self._batches(node, span, list(inputs), progress,
                                                         keep_going))

    def _batches(self, node: Any, span: Span, inputs: list[Any],
                 progress: Callable[[int, int], Any] | None, keep_going: bool) -> list:
        if not isinstance(node, (SOp, Selector)):
            raise RaspTypeError(f"expected an s-op or selector, got {describe(node)}", span)
        results: list = [[] for _ in inputs]
        prepared: dict[int, list] = {}
        for index, example in enumerate(inputs):
            try:
                prepared[index] = prepare_input(example)
            except RaspError as e:
                if not keep_going:
                    raise e.at(span).noted(f"in input {index + 1} of the batch", span,
                                           "input") from None
                results[index] = e.at(span)
        by_length: dict[int, list[int]] = {}
        for index, tokens in prepared.items():
            by_length.setdefault(len(tokens), []).append(index)
        done = 0
        for n, indices in by_length.items():
            size = max(1, BATCH_CELLS // (n * n))  # inputs per array
            for start in range(0, len(indices), size):
                chunk = indices[start:start + size]
                self._batch(node, span, [prepared[i] for i in chunk], chunk, results,
                            keep_going, [inputs[i] for i in chunk])
                done += len(chunk)
                if progress is not None:
                    progress(done, len(prepared))
        return results

    def _batch(self, node: Node, span: Span, group: list[list], where: list[int],
               results: list, keep_going: bool, originals: list) -> None:
        """Evaluate inputs of one length together; on an error, one by one (each as it was
        given, so that an error quotes it so)."""
        try:
            out = evaluate(node, input_array(group, batch=True), {},
                           memory_limit=self.memory_limit, plan_from=self.plan_from,
                           causal=self.causal)
        except RaspError:
            for i, example in zip(where, originals):
                try:
                    results[i] = self.apply(node, example, span).tolist()
                except RaspError as e:
                    if not keep_going:
                        raise e.noted(f"in input {i + 1} of the batch", span, "input") from None
                    results[i] = e
            return
        n = len(group[0])
        out = np.broadcast_to(out, (len(group),) + ((n, n) if isinstance(node, Selector)
                                                     else (n,)))
        for i, row in zip(where, out):
            results[i] = row.tolist()

    def apply(self, node: Node, example: Any, span: Span | None = None,
              input_span: Span | None = None) -> np.ndarray:
        """The value of `node` on an input, evaluated through the session's caches."""
        if type(node).__module__ != Node.__module__:  # built in Python (rasp.dsl)
            node = plain(node)
        tokens = self._tokens(example, input_span or span)
        try:
            return evaluate(node, input_array([tokens]), self._cache_for(tokens),
                            memory_limit=self.memory_limit, plan_from=self.plan_from,
                            causal=self.causal)
        except RaspError as e:
            if e.span is None:  # from tokens_*: the input itself is at fault
                raise e.at(input_span or span) from None
            if span is not None:
                e.noted(f"while evaluating on the input {_short(example)}", span, "input")
            raise

    def _tokens(self, example: Any, span: Span | None) -> list:
        try:
            return prepare_input(example)
        except RaspError as e:
            raise e.at(span) from None

    def _cache_for(self, tokens: list) -> ValueCache:
        """The values computed so far on this input. They are kept for the last few inputs,
        within CACHE_BYTES: beyond that the oldest inputs' values go, and if this input's
        alone are too many, they go too (they only save recomputing)."""
        key = (self.causal, *(ops.atom_key(t) for t in tokens))  # each mode its own values
        cache = self._caches.pop(key, None) or ValueCache()
        while self._caches and (len(self._caches) >= CACHED_INPUTS or cache.nbytes + sum(
                c.nbytes for c in self._caches.values()) > CACHE_BYTES):
            self._caches.popitem(last=False)
        if cache.nbytes > CACHE_BYTES:
            cache = ValueCache()
        self._caches[key] = cache
        return cache

    def names(self) -> set[str]:
        return self.env.names()

    # ------------------------------------------------------------ the evaluator's host

    def receive(self, outcome: Outcome) -> None:
        self._sink(outcome)

    def _render(self, outcome: Outcome) -> None:
        render(outcome, self._write, self._warn)

    def _write(self, line: str) -> None:
        if self._out is not None:
            self._out(line)

    def show(self, name: str | None, value: Any, span: Span, examples: bool = True) -> Shown:
        settings = self.settings if examples else self.settings.quiet()
        try:
            return Shown(name, value, tuple(show_value(name, value, settings, self.apply)))
        except RaspError as e:
            # The value exists; it only fails on the running example. Say so and go on.
            lines = tuple(show_value(name, value, settings.quiet(), self.apply))
            why = e.within(f"'{name or 'out'}' fails on the running example").at(span)
            return Shown(name, value, lines, why)

    def perform(self, stmt: ast.Stmt, values: tuple[Any, ...], top: bool) -> None:
        """`analyze`, `draw`, `compile` and the REPL's commands."""
        outcome: Outcome | None
        match stmt:
            case ast.Analyze(sop=sop):
                analysis = self.analyze_node(values[0], sop.span)  # (checked anywhere)
                outcome = Analyzed(analysis, tuple(split_lines(analysis.report()))) \
                    if top else None
            case ast.Draw():
                sop, example = values
                drawn = self._draw(stmt, sop, example, top)
                if not top and drawn.note is not None:  # drawn in a function: the note
                    self._warn(drawn.note_line)
                outcome = drawn
            case ast.Compile():
                sop, vocab, max_len, path = values
                return self._compile(stmt, sop, vocab, max_len, path, top)
            case ast.Generate():
                outcome = self._generate(stmt, *values) if top else None
            case _:
                outcome = self._command(stmt, *values)
        if top and outcome is not None:
            self.receive(outcome)

    def _command(self, stmt: ast.Stmt, value: Any = None) -> Message | None:
        """The REPL's commands, which change the session's settings."""
        chosen = getattr(stmt, "which", "both")
        which = ("s-op", "selector") if chosen == "both" else (chosen,)
        match stmt:
            case ast.SetExample(example=expr):
                tokens = self._tokens(value, expr.span)  # a valid input, or an error at it
                try:  # one the tokens s-ops can all read: not strings mixed with numbers
                    ops.sequence(np.array(tokens, dtype=object))
                except RaspError as e:
                    raise e.at(expr.span) from None
                for key in which:
                    self.settings.examples[key] = value
            case ast.ShowExample():
                return Message(tuple(f"\t{key} example: "
                                     f"{format_example(self.settings.examples[key])}"
                                     for key in which))
            case ast.ToggleExamples(on=on):
                for key in which:
                    self.settings.show[key] = on
            case ast.ToggleFullDisplay(on=on):
                self.settings.full_display = on
            case ast.ToggleCausal(on=on):
                self.causal = on
        return None

    def _draw(self, stmt: ast.Draw, node: Any, example: Any, top: bool) -> Drawn:
        """`draw(sop[, input])`: the computation flow on the input (the running example by
        default), as a picture in `draw_dir` and, at the top level, as text; then the value,
        as the original."""
        span, input_span = stmt.sop.span, stmt.input.span if stmt.input is not None else None
        flow, result = self.flow(node, example, span, input_span)
        files: list[Path] = []
        problem = None
        if self.draw_dir is not None:
            stem = self.draw_dir / file_stem(flow.analysis.target, flow.example)
            try:
                files, problem = draw_files(to_dot(flow), stem)
            except OSError as e:
                raise RaspValueError(f"cannot write the drawing in '{self.draw_dir}': "
                                     f"{e.strerror or e}", span) from None
        lines: list[str] = []
        if top:
            lines = split_lines(to_text(flow))
            if self.draw_dir is not None:
                lines.append(f"drawing: {' '.join(str(f) for f in files)}")
            lines += show_application(flow.example, result, self.settings.full_display)
        return Drawn(flow, result, tuple(files), tuple(lines), span, problem or None)

    def flow(self, node: Any, example: Any, span: Span,
             input_span: Span | None) -> tuple[Flow, np.ndarray]:
        """What `draw(sop[, input])` shows: the s-op's layers with every node's value on the
        input (the running example when `example` is None), and the s-op's own value."""
        if not isinstance(node, SOp):
            raise RaspTypeError(f"draw expects an s-op, got {describe(node)}", span)
        example = self.settings.examples["s-op"] if example is None else example
        result = self.apply(node, example, span, input_span)
        tokens = prepare_input(example)  # valid: apply took it
        report = check(analyze(node), tokens, format_example(example))
        values: dict[int, np.ndarray] = {}  # every node's value, selection matrices too
        inputs = input_array([tokens])
        for each in report.nodes:
            evaluate(each, inputs, values, memory_limit=self.memory_limit,
                     plan_from=self.plan_from, causal=self.causal)
        return Flow(report, example, values), result


class _Built:
    """The value of an expression, and the bindings it was built under: every variable of
    the session and of the library, whatever the expression names, since a function it
    calls may read any of them when called."""

    def __init__(self, value: Any, span: Span, env: Env):
        self.value, self.span = value, span
        self.bindings = [(scope, dict(scope.vars)) for scope in _scopes(env)]

    def current(self, env: Env) -> bool:
        """Whether every name is still bound to the very same value (a name added, removed
        or rebound could change what the expression means)."""
        scopes = _scopes(env)
        return len(scopes) == len(self.bindings) and all(
            scope is was and len(scope.vars) == len(bound) and all(
                scope.vars.get(name, bound) is value for name, value in bound.items())
            for scope, (was, bound) in zip(scopes, self.bindings))


def _scopes(env: Env) -> list[Env]:
    out = []
    scope: Env | None = env
    while scope is not None:
        out.append(scope)
        scope = scope.parent
    return out


def _short(example: Any) -> str:
    return shorten(format_example(example), 40)
