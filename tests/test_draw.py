"""draw(...): the text rendering (golden files), the DOT graph (checked structurally), and the
files written with and without Graphviz."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rasp import Interpreter, RaspError
from rasp import draw as draw_module

GOLDEN = Path(__file__).resolve().parent / "golden" / "draw"


def session(tmp_path) -> Interpreter:
    it = Interpreter(draw_dir=tmp_path, warn=lambda text: None)
    it.run('load "paper_examples";')
    return it


@pytest.mark.parametrize("program, golden", [
    ('draw(reverse, "abc");', "reverse.txt"),
    ('draw(dyck2_ptf, "({)}");', "dyck2.txt"),
    ('draw(sort(tokens, tokens), "cab");', "sort.txt"),
])
def test_text_rendering(tmp_path, request, program, golden):
    printed = session(tmp_path).run(program)
    text = re.sub(r"^drawing: .*$", "drawing: ...", printed, flags=re.M)
    expected = GOLDEN / golden
    if request.config.getoption("update_golden"):
        expected.write_text(text, encoding="utf-8")
    assert text == expected.read_text(encoding="utf-8")


def _dot(tmp_path, program: str) -> str:
    session(tmp_path).run(program)
    (dot_file,) = tmp_path.glob("*.dot")
    return dot_file.read_text()


def test_dot_has_a_cluster_per_layer_and_a_matrix_per_head(tmp_path):
    dot = _dot(tmp_path, 'draw(dyck2_ptf, "({)}");')
    assert dot.startswith("digraph flow {") and dot.rstrip().endswith("}")
    layers = re.findall(r"subgraph cluster_layer(\d+) \{", dot)
    assert layers == ["0", "1", "2", "3", "4"]
    heads = re.findall(r"^\s+(head(\d+)_\d+) \[label=", dot, flags=re.M)
    assert [int(layer) for _, layer in heads] == [1, 2, 2, 3, 4]
    declared = set(re.findall(r"^\s+(\w+) \[label=", dot, flags=re.M))
    for source, target in re.findall(r"^\s+(\w+) -> (\w+)", dot, flags=re.M):
        assert source in declared and target in declared


def test_dot_hides_constants_and_minor_maps(tmp_path):
    dot = _dot(tmp_path, 'x = (indices + 1) * (indices + 2); draw(x, "ab");')
    labels = re.findall(r"<B>([^<]*)</B>", dot)
    assert labels == ["indices", "x"]


def test_pictures_when_graphviz_is_installed(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    printed = session(tmp_path).run('draw(reverse, "abc");')
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["reverse-abc.dot", "reverse-abc.png", "reverse-abc.svg"]
    assert (tmp_path / "reverse-abc.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert f"drawing: {tmp_path / 'reverse-abc.dot'} " in printed


def test_without_graphviz_only_the_dot_file_and_one_note(tmp_path, monkeypatch):
    monkeypatch.setattr(draw_module.shutil, "which", lambda name: None)
    notes: list[str] = []
    it = Interpreter(draw_dir=tmp_path, warn=notes.append)
    printed = it.run('draw(indices + 1, "ab");')
    assert [p.suffix for p in tmp_path.iterdir()] == [".dot"]
    assert len(notes) == 1 and "'dot' is not installed" in notes[0]
    assert printed.endswith("\t =  [1, 2] (ints)\n")


def test_file_names_are_safe(tmp_path):
    session(tmp_path).run('draw(dyck1_ptf, "(()");')
    (dot_file,) = tmp_path.glob("*.dot")
    assert re.fullmatch(r"dyck1_ptf-[0-9a-f]{8}\.dot", dot_file.name)


def test_draw_needs_an_s_op(tmp_path):
    with pytest.raises(RaspError, match="draw expects an s-op, got selector"):
        session(tmp_path).run("draw(full_s);")


def test_a_folder_that_cannot_be_written_is_one_error(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    it = Interpreter(draw_dir=tmp_path / "taken" / "drawings")
    with pytest.raises(RaspError, match="cannot write the drawing in") as info:
        it.run('x = 1;\ndraw(indices + 1, "ab");')
    assert (info.value.line, info.value.column) == (2, 6)


def test_dot_failing_to_start_is_a_note(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise subprocess.TimeoutExpired("dot", 120)
    monkeypatch.setattr(draw_module.subprocess, "run", broken)
    monkeypatch.setattr(draw_module.shutil, "which", lambda name: "/usr/bin/dot")
    notes: list[str] = []
    printed = Interpreter(draw_dir=tmp_path, warn=notes.append).run('draw(indices, "ab");')
    assert len(notes) == 1 and "dot failed" in notes[0]
    assert printed.endswith("\t =  [0, 1] (ints)\n")


@pytest.mark.parametrize("first, second", [('[1, 2]', '[12]'), ('"a.b"', '"a"'),
                                           ('"a.b"', '"a_b"'), ('[1.5, 2]', '[1.7, 3]'),
                                           ('"12"', '[12]'), ('[1]', '[True]')])
def test_distinct_inputs_get_distinct_files(tmp_path, first, second):
    it = session(tmp_path)
    it.run(f"draw(indices, {first}); draw(indices, {second});")
    assert len(list(tmp_path.glob("*.dot"))) == 2
