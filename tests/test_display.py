"""Colour and the names listing of display.py; the uncoloured formats are the golden tests'."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from rasp import Interpreter
from rasp.display import colour_diagnostic, colour_wanted, format_names, kind_of
from rasp.errors import format_error

ESC = "\x1b["


def shown(source: str, colour: bool) -> str:
    it = Interpreter(interactive=True)
    it.settings.colour = colour
    return it.run(source)


SESSION = ('x = indices + 1; s = select(indices, indices, <); n = 3; l = [1, [2]]; '
           'd = {"a": 1}; def f(a) { return a; } e = "hi";')


def test_colour_off_prints_no_escapes_and_on_paints_kinds_names_and_types():
    plain, painted = shown(SESSION, False), shown(SESSION, True)
    assert ESC not in plain
    assert "\x1b[36ms-op:\x1b[0m \x1b[1mx\x1b[0m" in painted
    assert "\x1b[36mselector:\x1b[0m \x1b[1ms\x1b[0m" in painted
    assert "\x1b[2m(ints)\x1b[0m" in painted
    assert "console \x1b[36mfunction:\x1b[0m \x1b[1mf(a)\x1b[0m" in painted


def test_colour_only_adds_escapes():
    """Removing the escapes gives back the uncoloured text exactly (nested lists included)."""
    painted = shown(SESSION + " full seq display on; x; z = [x, 2];", True)
    assert re.sub(r"\x1b\[[0-9;]*m", "", painted) == shown(
        SESSION + " full seq display on; x; z = [x, 2];", False)


class Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty, env, expected", [
    (True, {}, True),
    (False, {}, False),
    (True, {"NO_COLOR": "1"}, False),
    (True, {"TERM": "dumb"}, False),
    (True, {"NO_COLOR": ""}, True),  # no-color.org: set *and non-empty*
])
def test_colour_wanted(monkeypatch, tty, env, expected):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert colour_wanted(Stream(tty)) is expected


def test_colour_diagnostic_paints_location_severity_and_carets():
    it = Interpreter()
    with pytest.raises(Exception) as caught:
        it.run("x = nope;", "<stdin>")
    text = format_error(caught.value)
    painted = colour_diagnostic(text)
    assert painted.splitlines()[0] == ("\x1b[1m<stdin>:1:5: \x1b[0m\x1b[1;31merror:\x1b[0m "
                                       "undefined name 'nope'")
    assert painted.splitlines()[1] == "  1 | x = nope;"
    assert painted.splitlines()[2] == "    |     \x1b[1;32m^^^^\x1b[0m"
    assert colour_diagnostic("internal error: boom").startswith("\x1b[1;31minternal error:")


def test_kind_of():
    it = Interpreter()
    it.run(SESSION)
    kinds = {name: kind_of(v) for name, v in it.env.vars.items() if name != "out"}
    assert kinds == {"x": "s-op", "s": "selector", "n": "value", "l": "list", "d": "dict",
                     "f": "function", "e": "value"}


def test_format_names_groups_by_kind_and_wraps():
    it = Interpreter()
    it.run(SESSION + " y = tokens;")
    bindings = {k: v for k, v in it.env.vars.items() if k != "out"}
    assert format_names(bindings) == ["     s-op: x, y", " selector: s", " function: f(a)",
                                      "    value: n, e", "     list: l", "     dict: d"]
    many = {f"name{i}": i for i in range(12)}
    lines = format_names(many, width=40)
    assert lines[0].startswith("    value: name0, name1,")
    assert all(len(line) <= 40 for line in lines) and len(lines) > 1
    assert all(line.startswith(" " * 11) for line in lines[1:])


def test_wide_characters_keep_selector_columns_aligned():
    from rasp.display import format_matrix, text_width

    lines = format_matrix(list("日本a"), np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))
    header, rows = lines[0], lines[1:]
    column = {ch: text_width(header.expandtabs(8)[:header.expandtabs(8).index(ch)])
              for ch in "日本a"}
    for row, token in zip(rows, "日本a"):
        shown = row.expandtabs(8)
        one = shown.rindex("1")
        assert text_width(shown[:one]) == column[token]  # the 1 sits under its key
    assert format_matrix(list("ab"), np.array([[1, 0], [0, 1]])) == [
        " \t\t\t     a b", " \t\t\t a | 1  ", " \t\t\t b |   1"]  # as the original


def test_floats_of_sequences_round_to_three_decimals_as_the_original():
    """Kept on purpose (docs/language.md): only the display rounds."""
    from rasp import Interpreter

    it = Interpreter()
    assert it.run('(indices * 0.0001)("ab");') == "\t =  [0.0, 0.0] (floats)\n"
    assert it.evaluate("indices * 0.0001", "ab") == [0.0, 0.0001]


def test_a_selector_on_a_long_running_example_is_summarised():
    from rasp import Interpreter

    it = Interpreter(interactive=True)
    printed = it.run('set example "' + "ab" * 500 + '"\ns = select(tokens, tokens, ==);')
    assert printed.splitlines()[1].startswith(
        " \t Example: a 1000 x 1000 selection matrix, 500,000 cells selected")
    assert len(printed) < 300
    short = it.run('set example "' + "ab" * 50 + '"\ns = select(tokens, tokens, ==);')
    assert len(short.splitlines()) == 3 + 100  # 100 tokens: the matrix, as the original


def test_full_display_of_identical_values_says_it_skipped_them():
    """As the original's REPL prints it (its transcript load_rover.txt)."""
    it = Interpreter()
    assert it.run('full seq display on\n(indices * 0)("abc");') == (
        "\t =   [0]*3 (ints) [skipped full display: identical values]\n")


def test_a_long_sequence_shows_its_ends_and_its_count():
    """80,000 values would flood the terminal: past 1,000 the REPL shows the first and last
    20 and the count; 1,000 show in full, and so does the batch output (`whole`)."""
    from rasp.display import format_sequence

    lines: list[str] = []
    it = Interpreter(interactive=True, out=lines.append)
    it.run(f'(indices)("{"a" * 80_000}");')
    first, last = ", ".join(map(str, range(20))), ", ".join(map(str, range(79_980, 80_000)))
    assert lines == [f"\t =  [{first}, ..., {last}] (ints) (80,000 values: the first and "
                     "last 20 shown)"]
    assert format_sequence(np.arange(1000)) == f"[{', '.join(map(str, range(1000)))}] (ints)"
    assert format_sequence(np.arange(1001), whole=True).count(", ") == 1000
