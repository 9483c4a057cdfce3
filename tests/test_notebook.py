"""The Jupyter extension in-process, through IPython's InteractiveShell: the magics, the
session they share, errors, the rich displays and what Python cells get from `rasp_session`.
(tests/test_notebook_tour.py runs the example notebook in a real kernel.)"""

import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

pytest.importorskip("IPython")

import numpy as np  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from rasp import Interpreter, RaspError  # noqa: E402
from rasp import draw as draw_module  # noqa: E402


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """A shell with a fresh RASP session, in an empty folder (draw must write nothing)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    shell = InteractiveShell.instance()
    shell.run_cell("%reload_ext rasp")
    yield shell
    shell.run_cell("%unload_ext rasp")


def run(shell, cell):
    """Run a cell as a notebook does; its result and the formats it is displayed in."""
    result = shell.run_cell(cell, store_history=True)
    if result.result is None:
        return result, {}
    data, _ = shell.display_formatter.format(result.result)
    return result, data


def repl_text(program):
    """What the REPL prints for `program`, entry by entry."""
    printed = []
    it = Interpreter(out=printed.append, interactive=True)
    it.run(program, "<stdin>")
    return printed


class Table(HTMLParser):
    """The rows of an HTML table as the texts of their cells, and the filled cells."""

    def __init__(self, text):
        super().__init__()
        self.rows, self.filled, self.caption, self._in = [], [], "", None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self._in = "cell"
            if "transparent" not in (dict(attrs).get("style") or "transparent"):
                if tag == "td":
                    self.filled.append((len(self.rows) - 1, len(self.rows[-1]) - 1))
        elif tag == "caption":
            self._in = "caption"

    def handle_endtag(self, tag):
        if tag in ("td", "th", "caption"):
            self._in = None

    def handle_data(self, data):
        if self._in == "cell":
            self.rows[-1][-1] += data
        elif self._in == "caption":
            self.caption += data


# ---------------------------------------------------------------- cells and the session

def test_definitions_carry_across_cells_and_load_works(shell, capsys):
    run(shell, '%%rasp\nload "sort";\nmy_sort = sort(tokens, tokens);')
    _, data = run(shell, '%%rasp\n(my_sort)("banana");')
    assert data["text/plain"] == "\t =  [a, a, a, b, n, n] (strings)"


def test_load_finds_files_in_the_notebooks_folder_first(shell, tmp_path):
    (tmp_path / "mine.rasp").write_text("twice = tokens_int * 2;\n_hidden = 1;\n")
    _, data = run(shell, '%%rasp\nload "mine";\n(twice)([1, 2]);')
    assert data["text/plain"] == "\t =  [2, 4] (ints)"
    with pytest.raises(RaspError, match="undefined name '_hidden'"):
        shell.user_ns["rasp_session"].value("_hidden")


def test_what_the_cell_prints_is_the_repl_text_and_its_last_value_the_result(shell, capsys):
    cell = 'x = tokens == "l";\n(x)("ll");\nshow example;\nx;'
    capsys.readouterr()
    result, data = run(shell, "%%rasp\n" + cell)
    lines = repl_text(cell)
    printed = capsys.readouterr().out
    # expression statements print the REPL's text; the last one is the cell's result
    assert printed.startswith("\n".join(lines[2:5]) + "\n")
    assert data["text/plain"] == "\n".join(lines[5:])
    assert result.result.value is shell.user_ns["rasp_session"].value("x")


def test_compile_prints_its_check_and_saves_in_the_notebooks_folder(shell, capsys, tmp_path):
    capsys.readouterr()
    result, _ = run(shell, '%%rasp\nx = length - indices;\ncompile(x, "ab", 4, "m.npz");')
    printed = capsys.readouterr().out
    assert "x: 1 layer, heads per layer 1" in printed
    assert "30/30 inputs equal the interpreter (100.00 %)" in printed
    assert result.result is None and (tmp_path / "m.npz").is_file()


def test_assignments_print_nothing_and_a_cell_ending_in_one_has_no_result(shell, capsys):
    capsys.readouterr()
    result, data = run(shell, '%%rasp\nload "sort";\nx = tokens == "l";')
    assert result.result is None
    assert capsys.readouterr().out == ""


def test_an_error_shows_the_cells_own_lines_and_a_caret_and_no_traceback(shell, capsys):
    capsys.readouterr()
    result, _ = run(shell, "%%rasp\na = 1;\nb = foo + 1;\nc = 2;")
    out = capsys.readouterr().out
    count = result.execution_count
    assert isinstance(result.error_in_exec, RaspError)
    # line 1 of the cell is `%%rasp`: `foo` is on line 3, column 5
    assert f"In[{count}]:3:5: error: undefined name 'foo'\n  3 | b = foo + 1;\n    |     ^^^\n" \
        in out
    assert "Traceback" not in out and "File " not in out
    _, data = run(shell, "%rasp a;")  # what ran before the error ran; the session goes on
    assert "value: a =  1" in data["text/plain"]
    with pytest.raises(RaspError, match="undefined name 'c'"):
        shell.user_ns["rasp_session"].value("c")


def test_a_line_magics_error_has_the_line_and_columns_of_the_cell(shell, capsys):
    capsys.readouterr()
    run(shell, "y = 1\nif True:\n    %rasp x = 1; z = foo;")
    out = capsys.readouterr().out
    assert ":3:22: error: undefined name 'foo'" in out
    assert "  3 |       " in out and "|                      ^^^\n" in out


def test_a_syntax_error_is_positioned_in_the_cell(shell, capsys):
    run(shell, "%%rasp\nx = 1;\n\ny = (;")
    assert ":4:6: error: unexpected ';'" in capsys.readouterr().out


def test_the_line_magic_runs_statements_without_python_interpolation(shell):
    shell.user_ns["a"] = "python's a"
    _, data = run(shell, '%rasp d = {"a": 1}; d;')
    assert data["text/plain"] == repl_text('d = {"a": 1}; d;')[-1].rstrip()
    assert "d = {'a': 1}" in data["text/plain"]
    result, _ = run(shell, "%rasp")
    assert result.result is shell.user_ns["rasp_session"]


def test_exit_ends_the_cell_not_the_session(shell, capsys):
    run(shell, "%%rasp\nx = 1;\nexit;\ny = 2;")
    assert "exit ends the cell" in capsys.readouterr().err
    _, data = run(shell, "%rasp x;")
    assert "x =  1" in data["text/plain"]
    with pytest.raises(RaspError):
        shell.user_ns["rasp_session"].value("y")
    result, data = run(shell, "%%rasp\nx;\nquit;")  # the last statement too
    assert "exit ends the cell" in capsys.readouterr().err and result.result is None


def test_reloading_starts_a_fresh_session_and_unloading_removes_it(shell):
    run(shell, "%rasp x = 1;")
    shell.run_cell("%reload_ext rasp")
    with pytest.raises(RaspError, match="undefined name 'x'"):
        shell.user_ns["rasp_session"].value("x")
    shell.run_cell("%unload_ext rasp")
    assert "rasp_session" not in shell.user_ns
    assert shell.find_cell_magic("rasp") is None and shell.find_line_magic("rasp") is None
    shell.run_cell("%load_ext rasp")
    assert shell.find_cell_magic("rasp") is not None


# ---------------------------------------------------------------- rich displays

def test_an_s_op_is_a_table_of_tokens_values_and_type(shell):
    _, data = run(shell, '%%rasp\nis_l = tokens == "l";\nis_l;')
    table = Table(data["text/html"])
    assert table.rows == [["tokens", "h", "e", "l", "l", "o", ""],
                          ["is_l", "F", "F", "T", "T", "F", "bools"]]
    assert table.caption == 'is_l on "hello"'
    assert data["text/plain"] == "\n".join(repl_text('is_l = tokens == "l"; is_l;')[2:])


def test_an_applied_s_op_is_a_table_on_its_input(shell):
    _, data = run(shell, '%rasp load "sort"; (sort(tokens_int, tokens_int))([3, 1, 2]);')
    table = Table(data["text/html"])
    assert table.rows[0][1:4] == ["3", "1", "2"]
    assert table.rows[1][1:] == ["1", "2", "3", "ints"]
    assert data["text/plain"] == "\t =  [1, 2, 3] (ints)"


def test_a_selector_is_a_matrix_of_queries_and_keys(shell):
    _, data = run(shell, "%%rasp\nearlier = select(indices, indices, <);\nearlier;")
    table = Table(data["text/html"])
    assert table.rows[0] == ["query \\ key", "h", "e", "l", "l", "o"]
    assert [row[0] for row in table.rows[1:]] == list("hello")
    # query q selects the keys before it: the filled cells are below the diagonal
    filled = {(row - 1, col - 1) for row, col in table.filled}
    assert filled == {(q, k) for q in range(5) for k in range(5) if k < q}
    assert "each query selects 0 to 4 keys" in table.caption
    assert data["text/plain"] == "\n".join(
        repl_text("earlier = select(indices, indices, <); earlier;")[-8:])


def test_analyze_is_a_table_of_layers_and_heads(shell):
    _, data = run(shell, '%%rasp\nload "sort";\nanalyze(sorted_tokens);')
    table = Table(data["text/html"])
    assert table.rows[0] == ["layer", "attention heads", "feed-forward"]
    assert [row[0] for row in table.rows[1:]] == ["0 (embedding)", "1", "2"]
    assert table.rows[1][1] == "-" and table.rows[2][1].startswith("head 1: ")
    assert table.caption.startswith("sorted_tokens: 2 layers, heads per layer 2/1")
    assert data["text/plain"] == "\n".join(
        repl_text('load "sort"; analyze(sorted_tokens);')[-len(data["text/plain"]
                                                               .splitlines()):])


def test_draw_is_an_inline_svg_and_writes_no_files(shell, tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    _, data = run(shell, '%rasp load "paper_examples"; draw(reverse, "abc");')
    assert data["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    assert "reverse" in data["image/svg+xml"]
    assert data["text/plain"].startswith('reverse("abc") = [c, b, a] (strings)\n2 layers')
    assert data["text/plain"].endswith("\t =  [c, b, a] (strings)")
    assert list(tmp_path.iterdir()) == []


def test_draw_without_graphviz_is_text_and_a_note(shell, capsys, monkeypatch):
    monkeypatch.setattr(draw_module.shutil, "which", lambda name: None)
    _, data = run(shell, '%rasp draw(indices + 1, "ab");')
    assert "image/svg+xml" not in data
    assert data["text/plain"].endswith("\t =  [1, 2] (ints)")
    assert "'dot' is not installed: the drawing is shown as text" in capsys.readouterr().err


def test_a_value_failing_on_the_running_example_shows_as_text_with_a_warning(shell, capsys):
    _, data = run(shell, "%%rasp\nset example [1, 0];\nq = 1 / tokens_int;\nq;")
    assert "text/html" not in data
    assert data["text/plain"] == "     s-op: q"
    assert "'q' fails on the running example" in capsys.readouterr().err


def test_a_large_selection_is_summarised_in_html_but_whole_in_text(shell):
    _, data = run(shell, '%rasp (select(indices, indices, ==))("' + "a" * 100 + '");')
    assert "100x100 selection" in data["text/html"]
    assert len(data["text/plain"].splitlines()) == 102


# ---------------------------------------------------------------- Python cells

def test_python_cells_get_numpy_arrays(shell):
    run(shell, '%%rasp\nload "sort";\nsame = select(tokens, tokens, ==);\n'
               "by_value = sort(tokens_int, tokens_int);")
    session = shell.user_ns["rasp_session"]
    out = session.evaluate("sorted_tokens", "banana")
    assert out.tolist() == list("aaabnn") and out.dtype.kind == "U"
    ints = session.evaluate("by_value", np.array([3, 1, 2]))  # a numpy input
    assert ints.tolist() == [1, 2, 3] and ints.dtype.kind == "i"
    matrix = session.evaluate("same", "aba")
    assert matrix.dtype == bool and matrix.tolist() == [[True, False, True],
                                                        [False, True, False],
                                                        [True, False, True]]
    big = session.evaluate("tokens_int * 10", [2 ** 70, -1])  # exact, as Python ints
    assert big.tolist() == [10 * 2 ** 70, -10] and big.dtype == object


def test_evaluate_batch_and_analyze_from_python(shell):
    run(shell, '%rasp load "sort";')
    session = shell.user_ns["rasp_session"]
    outs = session.evaluate_batch("sorted_tokens", ["ba", "cab", ("z", "y")])
    assert [o.tolist() for o in outs] == [["a", "b"], ["a", "b", "c"], ["y", "z"]]
    report = session.analyze("sorted_tokens")
    assert report.to_json()["heads_per_layer"] == [2, 1]


def test_python_values_are_examples(shell):
    session = shell.user_ns["rasp_session"]
    session.set_example(np.array([3, 1, 2]))
    _, data = run(shell, "%rasp tokens_int;")
    assert data["text/plain"].endswith("tokens_int([3, 1, 2]) = [3, 1, 2] (ints)")
    with pytest.raises(RaspError, match="an input must not be empty"):
        session.set_example([])


def test_values_in_python_cells_display_as_in_rasp_cells(shell):
    run(shell, '%rasp is_l = tokens == "l";')
    _, data = run(shell, 'rasp_session.value("is_l")')
    assert Table(data["text/html"]).rows[1] == ["is_l", "F", "F", "T", "T", "F", "bools"]
    assert data["text/plain"] == '     s-op: is_l\n \t Example: is_l("hello") = ' \
        "[F, F, T, T, F] (bools)"
    _, data = run(shell, 'rasp_session.analyze("is_l")')
    assert data["text/plain"].startswith("is_l: 0 layers")
    assert "text/html" in data


def test_a_rasp_error_in_a_python_cell_is_the_rasp_message(shell, capsys):
    capsys.readouterr()
    result, _ = run(shell, 'rasp_session.evaluate("nope", "ab")')
    out = capsys.readouterr().out
    assert isinstance(result.error_in_exec, RaspError)
    assert "<expression>:1:1: error: undefined name 'nope'" in out
    assert "Traceback" not in out


# ---------------------------------------------------------------- the core stays apart

def test_only_the_notebook_package_imports_ipython():
    import ast
    from pathlib import Path

    import rasp

    importers = set()
    package = Path(rasp.__file__).parent
    for module in package.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "IPython" for n in names):
                importers.add(module.relative_to(package).as_posix())
    assert importers == {"notebook/__init__.py"}


def test_importing_rasp_does_not_import_ipython():
    code = ("import sys, rasp, rasp.commands, rasp.repl, rasp.interpreter, rasp.draw; "
            "sys.exit('IPython' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
