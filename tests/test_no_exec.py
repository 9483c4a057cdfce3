"""Nothing a user writes reaches Python's eval, exec or compile, starts a program or touches
the file system, except `load` reading `.rasp` files, `draw` writing its pictures (with
Graphviz's `dot`) into its own folder, and the `compile` statement of the program run (never of
a file it loads) saving a model below the current folder.

Python's audit hooks see every such operation, however it is reached; a hook records them
while programs run, and the tests check the record. A second test reads rasp's source for
calls that would execute code.
"""

from __future__ import annotations

import ast
import io
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

import rasp
from rasp import Interpreter, RaspError
from rasp.commands import main

TESTS = Path(__file__).resolve().parent
DANGEROUS = ("exec", "compile", "open", "import", "os.", "subprocess.", "shutil.", "socket.",
             "urllib.", "http.", "ctypes.", "pickle.", "marshal.", "builtins.input", "pty.",
             "webbrowser.", "glob.", "tempfile.")
_record: list[tuple[str, tuple]] | None = None


def _audit(event: str, args: tuple) -> None:
    if _record is not None and event.startswith(DANGEROUS):
        _record.append((event, args))


import numpy.ma  # noqa: E402, F401  (numpy imports it lazily: not while a program is watched)

sys.addaudithook(_audit)  # for the rest of the process (hooks cannot be removed); it only
#                           records inside `watched()`


@contextmanager
def watched(drawings: Path):
    """Collects the dangerous operations run inside; fails on any not allowed."""
    global _record
    _record = []
    try:
        yield
    finally:
        seen, _record = _record, None
    refused = [(event, args) for event, args in seen if not _allowed(event, args, drawings)]
    assert refused == []


def _allowed(event: str, args: tuple, drawings: Path) -> bool:
    inside = str(args[0]).startswith(str(drawings)) if args else False
    if event == "open":
        path, mode = args[0], args[1] or "r"
        if isinstance(path, int):  # the pipes of a subprocess already allowed
            return True
        return (str(path).endswith(".rasp") and mode == "r") or (inside and "w" in mode)
    if event == "os.mkdir":
        return inside
    if event == "import":  # numpy loads some of its own modules lazily (numpy.ma by unique)
        return str(args[0]).startswith("numpy.")
    if event == "subprocess.Popen":
        return Path(str(args[0])).name == "dot"
    return False


def _corpus() -> list[tuple[str, str]]:
    files = [*TESTS.parent.glob("examples/*.rasp"), *TESTS.glob("golden/**/*.rasp"),
             *TESTS.glob("golden/**/*.in")]
    cases = json.loads((TESTS / "reference" / "original_cases.json").read_text())["cases"]
    return [(str(f), f.read_text()) for f in sorted(files)] + [
        (str(TESTS / "reference" / "case.rasp"), c["program"]) for c in cases]


ATTEMPTS = [
    'load "/etc/passwd";',
    'load "../../../../../../etc/hostname";',
    "load \"__import__('os').system('touch pwned')\";",
    "x = \"__import__('os').system('touch pwned')\"; x;",
    "(tokens)(\"__import__('os')\");",
    'set example "{0.__class__.__init__.__globals__}"\nshow example',
    'x = "%s%s%s{}"; x; (tokens + x)("ab");',
    'draw(tokens, "../../../../../../tmp/pwned");',
    'draw(tokens + "a", "; touch pwned");',
    'def __import__(a) { return a; } y = __import__("os"); y;',
    'exec("1");', 'eval("1");', 'open("pwned");', 'compile("1");',
    "x = tokens.__class__;",
    'compile(tokens == "a", "ab", 2, "/tmp/pwned");',
    'compile(tokens == "a", "ab", 2, "../../../../../../tmp/pwned");',
    'compile(tokens == "a", "ab", 2, "sub/../../pwned");',
]


def test_programs_reach_only_rasp_files_and_drawings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    drawings = tmp_path / "drawings"
    it = Interpreter(interactive=True, out=lambda line: None, warn=lambda text: None,
                     draw_dir=drawings)
    programs = _corpus() + [(str(tmp_path / "attempt.rasp"), text) for text in ATTEMPTS]
    with watched(drawings):
        for filename, text in programs:
            try:
                it.run(text, filename)
            except RaspError:
                pass
    assert not list(tmp_path.glob("**/pwned*"))
    assert not Path("/tmp/pwned").exists()


def test_a_loaded_file_saves_no_model(tmp_path, monkeypatch):
    import rasp.compiler  # noqa: F401  (imported before watching: the statement imports it)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib.rasp").write_text('x = tokens == "a";\ncompile(x, "ab", 2, "pwned");\n')
    it = Interpreter(out=lambda line: None, warn=lambda text: None)
    with watched(tmp_path / "drawings"), pytest.raises(RaspError) as refused:
        it.run('load "lib";', str(tmp_path / "main.rasp"))
    assert refused.value.text == ("compile saves no model from a loaded file: save it from the "
                                  "program that loads it")
    assert (refused.value.filename, refused.value.line, refused.value.column) == (
        str(tmp_path / "lib.rasp"), 2, 21)
    assert not list(tmp_path.glob("pwned*"))


def test_compile_saves_only_below_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    it = Interpreter(out=lambda line: None, warn=lambda text: None)
    for path in ("/tmp/pwned", "../pwned", "a/../../pwned"):
        with pytest.raises(RaspError) as refused:
            it.run(f'compile(tokens == "a", "ab", 2, "{path}");', "main.rasp")
        assert refused.value.text == (f"compile saves only below the current folder: '{path}' "
                                      "is not a relative path without '..'")
        assert refused.value.column == 33
    assert not list(tmp_path.parent.glob("pwned*")) and not Path("/tmp/pwned.npz").exists()
    it.run('compile(tokens == "a", "ab", 2, "m");', "main.rasp")
    assert (tmp_path / "m.npz").is_file()


@pytest.mark.parametrize("argv, stdin", [
    (["-c", 'x = tokens + "__import__(\'os\')"; (x)("a");'], ""),
    ([], 'load "/etc/passwd";\nx = "$(touch pwned)";\nx;\n'),
    (["analyze", "{program}", "__import__('os').system('touch pwned')"], ""),
    (["analyze", "{program}", "sort(tokens, tokens)"], ""),
], ids=["-c", "piped", "analyze an injection", "analyze"])
def test_the_command_line_reaches_only_rasp_files(argv, stdin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    program = tmp_path / "program.rasp"
    program.write_text("x = 1;\n")
    argv = [a.replace("{program}", str(program)) for a in argv]
    with watched(tmp_path / "comp_flows"):
        main(argv, stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO())
    assert not list(tmp_path.glob("**/pwned*"))


# Calls that run code or programs, and the modules that make them; the one place allowed to
# is draw, which runs Graphviz. ops.py uses ctypes once, at import, for a fixed setting of
# the C allocator (mallopt): nothing a program says reaches it.
EXECUTING = {"eval", "exec", "compile", "__import__", "breakpoint", "os.system", "os.popen",
             "os.execv", "os.execvp", "os.spawnl", "os.posix_spawn", "importlib.import_module",
             "subprocess.run", "subprocess.call", "subprocess.Popen", "subprocess.check_call",
             "subprocess.check_output", "pickle.loads", "marshal.loads"}
EXECUTING_MODULES = {"subprocess", "pickle", "marshal", "importlib", "ctypes", "code", "codeop",
                     "runpy", "pty"}


def test_the_source_has_no_code_execution():
    calls, imports = set(), set()
    package = Path(rasp.__file__).parent
    for module in sorted(package.rglob("*.py")):
        name = module.relative_to(package).as_posix()
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in EXECUTING:
                calls.add((name, ast.unparse(node.func)))
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            imports |= {(name, n) for n in names if n.split(".")[0] in EXECUTING_MODULES}
    assert calls == {("draw.py", "subprocess.run")}
    # ctypes: the command line's allocator setting (glibc's mallopt), for its own process
    assert imports == {("draw.py", "subprocess"), ("commands/__init__.py", "ctypes")}


# ----------------------------------------------------------------- files rasp reads back

class Payload:
    """What a crafted file would run when unpickled: here, only making a folder."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.mkdir, (str(self.marker),)


def test_a_run_folders_model_pt_is_read_as_weights_only_never_run(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import hashlib

    from rasp.train.loop import load_run

    # torch 2.1-2.5 unpickle anything by default, and this asks any torch to: rasp must not
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    torch.save({"model": Payload(marker), "state_dict": {}}, tmp_path / "model.pt")
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "history.jsonl").write_text("")
    sums = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
            for name in ("model.pt", "metrics.json", "history.jsonl")}
    (tmp_path / "config.json").write_text(json.dumps({"files": sums}))
    with pytest.raises(RaspError) as refused:
        load_run(tmp_path)
    assert refused.value.message == (f"{tmp_path / 'model.pt'}: not a model rasp can load as "
                                     "weights (UnpicklingError)")
    assert not marker.exists()


def test_a_model_file_holding_python_objects_is_refused_unread(tmp_path):
    import numpy as np

    from rasp.compiler import Model

    marker = tmp_path / "pwned"
    objects = np.empty(1, dtype=object)
    objects[0] = Payload(marker)
    np.savez(tmp_path / "m.npz", config=np.array("{}"), unembed=objects)
    with pytest.raises(RaspError) as refused:
        Model.load(tmp_path / "m.npz")
    assert refused.value.message == (f"{tmp_path / 'm.npz'}: array 'unembed' holds Python "
                                     "objects, which rasp never unpickles")
    assert not marker.exists()


def test_every_load_of_a_file_refuses_pickles():
    """torch.load with weights_only=True, numpy's loads with allow_pickle=False, always."""
    loads = []
    for module in sorted(Path(rasp.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(
                    ("torch.load", "np.load", "read_array")):
                given = {k.arg: ast.unparse(k.value) for k in node.keywords}
                loads.append((module.name, ast.unparse(node.func), given.get("weights_only",
                              given.get("allow_pickle"))))
    assert sorted(loads) == [("model.py", "torch.load", "True"),
                             ("modelfile.py", "np.lib.format.read_array", "False"),
                             ("modelfile.py", "np.lib.format.read_array", "False")]
