"""The example notebook, docs/notebooks/tour.ipynb, run end to end by nbclient in a real
kernel: no cell fails, each display carries its formats, and the committed outputs are the
ones a run gives (pictures aside, which depend on the Graphviz version).

After changing the notebook or the displays, refresh its outputs with
`python tests/test_notebook_tour.py`.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOUR = ROOT / "docs" / "notebooks" / "tour.ipynb"
KERNEL = "rasp-tour-python"

# What the last statement of some cells displays, by a line of the cell.
EXPECTED = {
    '(tokens)("abc");': {"text/html", "text/plain"},
    "is_l;": {"text/html", "text/plain"},
    "earlier;": {"text/html", "text/plain"},
    "analyze(hist);": {"text/html", "text/plain"},
    "move;": {"text/html", "text/plain"},
    "analyze(dyck2);": {"text/html", "text/plain"},
    'draw(reverse, "abc");': {"image/svg+xml", "text/plain"},
    'rasp_session.evaluate("sorted_tokens", "banana")': {"text/plain"},
    'rasp_session.value("sort(tokens_int, tokens_int)")': {"text/html", "text/plain"},
    '%rasp (hist)("mississippi");': {"text/html", "text/plain"},
}


def kernel_spec(folder: Path) -> dict[str, str]:
    """A kernel spec for this interpreter, whose kernel imports this checkout's rasp, under
    `folder`; the environment that makes Jupyter find it (and nothing of the user's)."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (rasp tests)", "language": "python",
        "env": {"PYTHONPATH": path, "NO_COLOR": "1"}}))
    return {"JUPYTER_PATH": str(folder), "JUPYTER_RUNTIME_DIR": str(folder / "runtime")}


def execute(notebook, folder: Path):
    """Run every cell of `notebook` in a fresh kernel with `folder` as its current folder."""
    from nbclient import NotebookClient

    NotebookClient(notebook, kernel_name=KERNEL, timeout=120,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


NO_GRAPHVIZ = "'dot' is not installed: the drawing is shown as text"


def outputs(cell) -> list:
    """What a cell showed, without the pictures, the prompt numbers and the note that
    replaces a picture where Graphviz is missing."""
    shown = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream" and NO_GRAPHVIZ in out["text"]:
            continue
        if out["output_type"] == "stream":
            shown.append((out["name"], out["text"]))
        elif out["output_type"] in ("execute_result", "display_data"):
            data = out["data"]
            shown.append({k: data[k] for k in ("text/plain", "text/html") if k in data})
        else:
            shown.append(out["output_type"])
    return shown


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    folder = tmp_path_factory.mktemp("tour")  # the kernel's current folder
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR")}
    os.environ.update(kernel_spec(tmp_path_factory.mktemp("jupyter")))
    try:
        return execute(nbformat.read(TOUR, as_version=4), folder), folder
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_every_cell_runs_without_an_error(executed):
    notebook, _ = executed
    for cell in code_cells(notebook):
        kinds = [out["output_type"] for out in cell.outputs]
        assert "error" not in kinds, cell.source
        assert not [out for out in cell.outputs if out.get("name") == "stderr"
                    and NO_GRAPHVIZ not in out["text"]], cell.source


def test_each_display_carries_its_formats(executed):
    notebook, _ = executed
    found = set()
    for cell in code_cells(notebook):
        wanted = [w for line, w in EXPECTED.items() if line in cell.source.splitlines()]
        if not wanted:
            continue
        found.update(line for line in EXPECTED if line in cell.source.splitlines())
        (result,) = [out for out in cell.outputs if out["output_type"] == "execute_result"]
        formats = set(wanted[0])
        if "image/svg+xml" in formats and shutil.which("dot") is None:
            formats = {"text/plain"}  # without Graphviz a drawing is its text
        assert set(result["data"]) == formats, cell.source
    assert found == set(EXPECTED)


def test_python_cells_get_the_values_of_rasp_cells(executed):
    notebook, _ = executed
    results = {cell.source.splitlines()[-1]: cell.outputs[-1]["data"]["text/plain"]
               for cell in code_cells(notebook) if cell.outputs and
               cell.outputs[-1]["output_type"] == "execute_result"}
    assert results['rasp_session.evaluate("sorted_tokens", "banana")'] == \
        "array(['a', 'a', 'a', 'b', 'n', 'n'], dtype='<U1')"
    assert results["all(list(out) == sorted(word) for out, word in zip(outputs, words))"] \
        == "True"
    assert results['rasp_session.analyze("dyck2").to_json()["heads_per_layer"]'] == \
        "[1, 1, 1]"


def test_the_committed_outputs_are_those_of_a_run(executed):
    nbformat = pytest.importorskip("nbformat")
    notebook, _ = executed
    committed = nbformat.read(TOUR, as_version=4)
    for ran, kept in zip(code_cells(notebook), code_cells(committed)):
        assert outputs(ran) == outputs(kept), (
            f"{TOUR.name} is out of date (python tests/test_notebook_tour.py refreshes it): "
            f"{ran.source}")


def test_draw_writes_no_files_in_the_notebooks_folder(executed):
    _, folder = executed
    assert list(folder.iterdir()) == []


if __name__ == "__main__":  # refresh the committed outputs
    import tempfile

    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(kernel_spec(Path(tmp) / "jupyter"))
        (Path(tmp) / "cwd").mkdir()
        ran = execute(nbformat.read(TOUR, as_version=4), Path(tmp) / "cwd")
    nbformat.write(ran, TOUR)
    print(f"wrote {TOUR}")
