"""Shared model folders (rasp.compiler.folder, rasp.interop.folder) and the commands around
them: the round trip is bit-identical and verifies again in a fresh process; a missing or
altered file, and inputs the model cannot read, are one clear error each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter, RaspError
from rasp.commands import main
from rasp.compiler import Model
from rasp.compiler.folder import Source, read_safetensors
from rasp.interop import save_folder, verify

ROOT = Path(__file__).resolve().parent.parent
SOURCE = 'load "sort";\n'


@pytest.fixture(scope="module")
def compiled():
    it = Interpreter()
    it.run(SOURCE)
    return it.compile("sorted_tokens", vocab="abc", max_len=5).checked()


@pytest.fixture
def folder(compiled, tmp_path):
    return save_folder(compiled.model, tmp_path / "sort", Source(SOURCE, "sorted_tokens"),
                       compiled.verification)


def test_the_round_trip_is_bit_identical(compiled, folder):
    loaded = Model.load(folder)
    assert loaded.config == compiled.model.config
    assert set(loaded.arrays) == set(compiled.model.arrays)
    for name, array in compiled.model.arrays.items():
        assert loaded.arrays[name].dtype == np.float64
        assert loaded.arrays[name].tobytes() == array.tobytes()
    assert loaded.source == Source(SOURCE, "sorted_tokens")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "config.json", "model.safetensors", "program.rasp"]


def test_the_safetensors_library_reads_our_file(compiled, folder):
    safetensors = pytest.importorskip("safetensors.numpy")
    arrays = safetensors.load_file(str(folder / "model.safetensors"))
    assert {n: a.tobytes() for n, a in arrays.items()} == {
        n: a.tobytes() for n, a in compiled.model.arrays.items()}
    ours = {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(3)}
    written = safetensors.save(ours, metadata={"k": "v"})  # and we read the library's
    metadata, arrays = read_safetensors(written)
    assert metadata == {"k": "v"}
    assert all((arrays[n] == ours[n]).all() for n in ours)


def test_a_loaded_folder_verifies_again_in_a_fresh_process(folder):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "rasp", "verify", str(folder)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "inputs equal the interpreter (100.00 %)" in done.stdout


def test_float32_verification(folder):
    assert verify(folder, dtype="float32").ok
    with pytest.raises(RaspError, match="dtype must be"):
        Model.load(folder).forward_batch([["a"]], dtype="float16")


def test_an_edited_program_is_refused(folder):
    (folder / "program.rasp").write_text(SOURCE + "def sorted_tokens = tokens;\n")
    with pytest.raises(RaspError, match="program.rasp was changed after the model was saved"):
        Model.load(folder)


def test_altered_weights_are_refused(folder):
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(RaspError, match="model.safetensors was changed"):
        Model.load(folder)


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "program.rasp"])
def test_a_missing_file_is_named(folder, name):
    (folder / name).unlink()
    with pytest.raises(RaspError, match=f"{name} is missing"):
        Model.load(folder)


def test_a_folder_holding_a_model_is_not_overwritten(compiled, folder):
    with pytest.raises(RaspError, match="--force"):
        save_folder(compiled.model, folder, Source(SOURCE, "sorted_tokens"))
    save_folder(compiled.model, folder, Source(SOURCE, "sorted_tokens"), force=True)
    assert Model.load(folder).forward("cab") == ["a", "b", "c"]


def test_bad_inputs_are_one_clear_error_each(compiled):
    model = compiled.model
    with pytest.raises(RaspError, match="token 'z' at position 1 is not in"):
        model.trace("az")
    with pytest.raises(RaspError, match="more than the model's max_len 5"):
        model.run("abcabc")
    torch = pytest.importorskip("torch")
    from rasp.interop import to_torch
    module = to_torch(model)
    with pytest.raises(RaspError, match="token ids run from 1 to 3"):
        module(torch.tensor([[1, 4]]))
    with pytest.raises(RaspError, match="more than the model's max_len 5"):
        module(torch.ones((1, 6), dtype=torch.long))


def run(argv, tmp_path):
    from io import StringIO
    out, err = StringIO(), StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = main(argv, stdout=out, stderr=err)
    finally:
        os.chdir(cwd)
    return status, out.getvalue(), err.getvalue()


def test_compile_export_and_verify_commands(tmp_path):
    status, out, _ = run(["compile", "reverse", "reverse", "--vocab", "abc", "--max-len", "4",
                          "--out", "r", "--format", "safetensors"], tmp_path)
    assert status == 0 and out.endswith("saved r\n")
    assert "\nfloat32 verification: " in out and "(100.00 %)" in out
    manifest = json.loads((tmp_path / "r" / "config.json").read_text())
    assert manifest["program"]["target"] == "reverse"
    assert manifest["transformer_lens"]["n_layers"] == 3
    assert run(["verify", "r"], tmp_path)[0] == 0
    assert run(["compile", "reverse", "reverse", "--vocab", "abc", "--max-len", "4",
                "--out", "r.npz"], tmp_path)[0] == 0
    assert run(["export", "r.npz", "--to", "safetensors", "e", "--program", "reverse"],
               tmp_path)[0] == 0
    assert Model.load(tmp_path / "e").forward("abc") == ["c", "b", "a"]
    status, _, err = run(["export", "r.npz", "--to", "safetensors", "w", "--program", "sort",
                          "--name", "sorted_tokens"], tmp_path)
    assert status == 70 and "the model disagrees with sort's 'sorted_tokens'" in err
    status, _, err = run(["export", "r.npz", "--to", "safetensors", "w"], tmp_path)
    assert status == 64 and "give --program FILE" in err
    assert run(["export", "r.npz", "--to", "transformer-lens", "t"], tmp_path)[0] == 0
    lens = json.loads((tmp_path / "t" / "config.json").read_text())
    assert lens["attn_scale"] == 0.5 and lens["n_ctx"] == 5
    (tmp_path / "r" / "program.rasp").write_text("def reverse = tokens;\n")
    status, _, err = run(["verify", "r"], tmp_path)
    assert status == 70 and "program.rasp was changed" in err


def test_a_missing_extra_is_one_clear_error(compiled, monkeypatch):
    import rasp.interop as interop
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(RaspError, match=r"pip install torch transformer-lens safetensors"):
        interop.to_torch(compiled.model)
