"""The compiled model: the file format exactly as docs/compiling.md states it, exactness on the
programs that stress the encodings, refusals with their positions, and run-time errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter
from rasp.compiler import Compiled, Limits, Model
from rasp.compiler.verify import verify
from rasp.errors import RaspError

ROOT = Path(__file__).resolve().parents[2]


def compile_in(source: str, expr: str, vocab, max_len: int, **limits) -> Compiled:
    it = Interpreter(warn=lambda text: None)
    it.run(source, "p.rasp")
    return it.compile(expr, vocab, max_len, Limits(**limits) if limits else None)


def compiled(source: str, expr: str, vocab, max_len: int, **limits) -> Model:
    return compile_in(source, expr, vocab, max_len, **limits).model


def exact(source: str, expr: str, vocab, max_len: int) -> None:
    c = compile_in(source, expr, vocab, max_len)
    result = verify(c.model, c.target, exhaustive=1000)
    assert result.ok, result.report()


# ----------------------------------------------------------------- the format

def test_file_holds_exactly_the_format(tmp_path):
    model = compiled('load "sort";', "sorted_tokens", list("abc"), 6)
    model.save(tmp_path / "m.npz")
    data = np.load(tmp_path / "m.npz", allow_pickle=False)
    config = json.loads(str(data["config"]))
    assert set(config) == {"format", "program", "vocab", "max_len", "d_model", "layers",
                           "output", "layout"}
    assert config["format"] == "rasp-transformer/1"
    assert (config["vocab"], config["max_len"]) == (["a", "b", "c"], 6)
    d = config["d_model"]
    expected = {"config", "embed.token", "embed.position", "unembed"}
    assert data["embed.token"].shape == (4, d) and data["embed.position"].shape == (7, d)
    for number, layer in enumerate(config["layers"]):
        for h in range(layer["heads"]):
            p = f"layer{number}.head{h}"
            expected |= {p + ".query", p + ".key", p + ".value", p + ".output"}
            k, v = data[p + ".query"].shape[1], data[p + ".value"].shape[1]
            assert data[p + ".query"].shape == (d, k) and data[p + ".key"].shape == (d, k)
            assert data[p + ".value"].shape == (d, v) and data[p + ".output"].shape == (v, d)
        width = d
        for j in range(layer["mlp"]):
            w, b = data[f"layer{number}.mlp.{j}.weight"], data[f"layer{number}.mlp.{j}.bias"]
            assert w.shape[0] == width and b.shape == (w.shape[1],)
            width = w.shape[1]
            expected |= {f"layer{number}.mlp.{j}.weight", f"layer{number}.mlp.{j}.bias"}
        assert width == d
    assert set(data.files) == expected
    assert all(data[k].dtype == np.float64 for k in data.files if k != "config")
    assert data["unembed"].shape == (d, len(config["output"]["values"]))
    assert config["layers"][0]["heads"] == 0  # the embedding stage
    assert [layer["heads"] for layer in config["layers"][1:]] == [2, 1]
    blocks = config["layout"]
    assert blocks[0]["name"] == "bos" and blocks[-1]["last"] == d - 1
    assert all(b["first"] == a["last"] + 1 for a, b in zip(blocks, blocks[1:]))


def test_summary_names_the_figures():
    c = compile_in('load "reverse";', "reverse", list("ab"), 5)
    model, text = c.model, c.summary()
    assert "reverse: 2 layers, heads per layer 1/1" in text
    assert f"{model.parameters:,} parameters" in text


# ----------------------------------------------------------------- exactness

def test_means_copies_and_defaults_in_one_aggregate():
    exact("", "aggregate(select(indices, indices, <), indices)", list("ab"), 9)


def test_string_default_where_nothing_is_selected():
    exact('load "shift";', 'shift(tokens, 1, "_")', list("abc"), 7)


def test_numbers_beyond_float_precision_as_categorical_keys():
    exact('load "sort";', "sort_unique(tokens_int, tokens_int)", [-3, 7, 2 ** 60, 10 ** 18], 4)
    model = compiled('load "sort";', "sort_unique(tokens_int, tokens_int)",
                     [-3, 7, 2 ** 60, 10 ** 18], 4)
    # their means cannot be enumerated, so the output has no value set: floats
    assert model.forward([2 ** 60, -3, 10 ** 18, 7]) == [-3.0, 7.0, 1e18, 2.0 ** 60]


def test_numerical_outputs_are_ints_where_the_interpreter_gives_ints(tmp_path):
    """A tokens_int program's copied tokens decode as ints, also from the saved file; a
    number the value set holds only as a float (a mean) stays a float."""
    model = compiled('load "sort";', "sort_stable(tokens_int, tokens_int)", [1, 2, 3, 10], 4)
    assert model.config["output"]["kind"] == "numerical"
    for m in (model, Model.load(model.save(tmp_path / "sort.npz"))):
        out = m.forward([3, 1, 10])
        assert out == [1, 3, 10] and [type(v) for v in out] == [int, int, int]
    mean = compiled("", "aggregate(select(indices, indices, <=), tokens_int)", [1, 2], 2)
    out = mean.forward([1, 2])
    assert out == [1, 1.5] and [type(v) for v in out] == [int, float]


def test_inputs_the_interpreter_rejects_are_not_counted():
    result = compile_in("", "aggregate(full_s, tokens)", list("ab"), 4).verify()
    assert result.ok and result.raised > 0
    c = compile_in("", "load_from_location(tokens, [3][length])", list("a"), 3)
    assert c.verify().checked == 0  # raises on every input
    model = c.model
    with pytest.raises(RaspError, match="no value on any input"):
        model.forward("a")
    result = compile_in("", "1 / (indices - 7)", list("a"), 10).verify()
    assert result.ok and result.raised == 3  # lengths 8, 9 and 10


TWO_MEANS = """
a = aggregate(select(indices, indices, <=), indicator(tokens == "a"));
b = aggregate(select(indices, indices, <=), indicator(tokens == "b"));
"""


@pytest.mark.parametrize("expr", ["a > b", "a + b > 0.5",
                                  '"x" if a == b else ("y" if a < b else "z")'])
def test_maps_of_two_averaged_numbers(expr):
    exact(TWO_MEANS, expr, list("abc"), 6)


def test_comparisons_that_raise_are_no_selection():
    # "a" < 0 raises: the interpreter fails on such inputs, the predicate table says False
    exact("", "has_focus(select(tokens_asis, indices, <))", ["a", 1], 3)


def test_averaged_number_as_a_query():
    # the query reads the number through a one-hot of its values (found by the random tests:
    # a quotient once merged them all)
    exact("v0 = sort(indices, tokens_int);", "load_from_location(tokens, v0)", [1, 0, 2], 4)
    exact("v0 = sort(indices, tokens_int);", "load_from_location(tokens, v0)", [-0.0, 0], 4)


def test_selector_width_at_the_limit():
    model = compiled('load "histogram";', "histogram", list("ab"), 30)
    assert model.forward("a" * 30) == [30] * 30
    assert model.forward("ab" * 15) == [15] * 30


def test_features_only_heads_read_keep_classes():
    # selector_width's `sel or select(indices, 0, ==)` reads (tokens, indices) jointly, but
    # tells the keys apart only as: index 0 (always selected), or not and which token
    model = compiled('load "histogram";', "histogram", list("ab"), 20)
    joint = [b for b in model.config["layout"] if b["name"] == "(tokens, indices)"]
    assert len(joint) == 1 and len(joint[0]["values"]) == 3


def test_verification_fails_on_a_wrong_model():
    c = compile_in('load "reverse";', "reverse", list("ab"), 4)
    c.model.arrays["unembed"] = c.model.arrays["unembed"][:, ::-1].copy()  # swap a and b
    assert not c.verify().ok


# ----------------------------------------------------------------- refusals

def refused(source: str, expr: str, vocab, max_len: int, **limits) -> RaspError:
    with pytest.raises(RaspError) as info:
        compiled(source, expr, vocab, max_len, **limits)
    return info.value


def test_value_set_past_the_limit_names_node_size_and_flag():
    error = refused("x = indices * 3 + 1;", "x", list("a"), 20, max_values=10)
    assert "has 20 values (limit --max-values 10)" in error.message
    assert (error.filename, error.line, error.column) == ("p.rasp", 1, 5)


def test_table_past_the_limit():
    error = refused("x = aggregate(full_s, indicator(tokens == \"a\")) * indices;", "x",
                    list("ab"), 12, max_table=50)
    assert "--max-table 50" in error.message and error.line == 1


# two averages whose values multiply in the table of `big`, beside a harmless map `q` of the
# same feed-forward block (layer 1), both read by layer 2's head
BALANCES = """a = aggregate(select(indices, indices, <=), indicator(tokens == "a"));
b = aggregate(select(indices, indices, <=), indicator(tokens == "b"));
q = length - 1;
big = a < b;
last = aggregate(select(indices, q, ==), big);"""


def test_a_table_past_the_limit_is_refused_at_its_map_naming_what_multiplies():
    error = refused(BALANCES, "last", list("ab"), 10, max_table=100)
    assert (error.line, error.column) == (4, 7)  # a < b
    assert "'big' is a table over 'a' (35 values), 'b' (35 values): more than 100 " \
           "combinations over the positions (limit --max-table 100); a smaller vocabulary " \
           "or max_len, a larger limit" in error.message


def test_a_block_past_the_unit_limit_is_refused_at_its_largest_table():
    error = refused(BALANCES, "last", list("ab"), 10, max_units=100)
    assert (error.line, error.column) == (4, 7)
    assert "the feed-forward block of layer 1 needs at least" in error.message
    assert "(limit --max-units 100)" in error.message
    assert "of its units for 'big', a table over 'a' (35 values), 'b' (35 values)" in \
        error.message


def test_a_block_past_the_weight_limit_is_refused_before_its_matrices():
    error = refused(BALANCES, "last", list("ab"), 10, max_weights=1000)
    assert (error.line, error.column) == (4, 7)
    assert re.search(r"the feed-forward block of layer 1 would hold [\d,]+ weights \([\d,]+ "
                     r"hidden units, d_model \d+; 0\.0 GB in float64\) \(limit --max-weights "
                     r"1,000\), [\d,]+ of its units for 'big'", error.message)


def test_hidden_units_past_the_limit():
    error = refused('load "reverse";', "reverse", list("ab"), 12, max_units=20)
    assert "hidden units (limit --max-units 20)" in error.message
    assert error.span is not None


def test_means_of_fractions_are_refused():
    error = refused("m = aggregate(select(indices, indices, <=), tokens_float);\ny = m > 1;",
                    "y", [0.5, 1.5], 5)
    assert "means cannot be enumerated exactly" in error.message
    assert error.line == 1


@pytest.mark.parametrize("selector", [
    # (found by the random programs) keys that are two token s-ops: their joint feature was
    # embedded as the first one's values, and the compiler crashed
    "select(tokens_int, indices, ==) or select(tokens_float, indices, ==)",
    "select(tokens_int, indices, <) and select(tokens_float, indices, !=)",
])
def test_keys_read_from_two_token_sops(selector):
    exact(f"s = {selector}; x = aggregate(s, indices, 7);", "x", [0, 1, 2, 3], 5)


def test_mean_of_a_class_of_equal_numbers():
    # (found by the random programs) -v is 3 where v copies and 3.0 where it averages: one
    # class of the encoding, which the outer mean read as 0
    exact("v = aggregate(full_s, -3); x = aggregate(full_s, -v);", "x", ["a"], 6)


def test_numbers_too_far_apart_for_their_gaps():
    # (found by the random programs) a default of 2^53 beside means 0.25 apart: the steps
    # that tell them apart would lose their +1 to rounding, and the model answered 0, not 1
    source = "x = indicator(aggregate(select(indices, tokens_int, !=), indices, 2.0 ^ 53));"
    error = refused(source, "x", [0], 4)
    assert "cannot tell the values of" in error.message and "past 2^30" in error.message
    assert (error.line, error.column) == (1, 5)
    exact(source.replace("2.0 ^ 53", "1000.0"), "x", [0], 4)  # closer values compile


def test_a_default_beside_a_huge_number_at_bos():
    # (found by the random programs) the inner aggregate's default 2^53 sits at BOS, and the
    # outer head's BOS row, which cancels it to give the default -3, gave -4
    source = ("x = aggregate(select(-3, indices, ==), aggregate(full_s, indices, {}), -3);")
    error = refused(source.format("2.0 ^ 53"), "x", ["a"], 4)
    assert "cannot give its defaults exactly" in error.message and error.column == 5
    exact(source.format("1000.0"), "x", ["a"], 4)


def test_units_that_cannot_be_switched_off_at_bos():
    source = "m = aggregate(select(indices, indices, <=), tokens_int, {}); x = m > -3;"
    error = refused(source.format("2.0 ^ 53"), "x", [-7, -5, -1], 6)
    assert "cannot switch its units off at the BOS position exactly" in error.message
    exact(source.format("1000.0"), "x", [-7, -5, -1], 6)


def test_a_copy_of_a_mean_with_a_string_default_is_refused_at_the_users_call():
    # (found by the random programs) shift copies a numerically held mean: its default "a"
    # cannot be held so; a map reading it crashed before the head could say so
    source = 'x = 1;\nv = shift(aggregate(full_s, tokens_int), 1, "a");\ny = {"a": 0, 1: 1}[v];'
    for name in ("v", "y"):
        error = refused(source, name, [1, 2], 4)
        assert error.message.startswith("shift: ") and "default 'a' is not a number" in \
            error.message
        assert (error.filename, error.line, error.column) == ("p.rasp", 2, 5)


def test_numeric_aggregate_with_a_string_default():
    error = refused('x = aggregate(select(indices, indices, <), tokens_int, "none");', "x",
                    [1, 2], 4)
    assert "default 'none' is not a number" in error.message and error.line == 1


def test_vocabulary_the_tokens_cannot_read():
    error = refused("", "tokens_int + 1", list("ab"), 4)
    assert "vocabulary item 'a' is not a valid input for tokens_int" in error.message


def test_constants_and_selectors_are_not_compiled():
    assert "expects an s-op" in refused("", "3", list("a"), 3).message
    assert "expects an s-op" in refused("", "select(indices, indices, ==)", list("a"), 3).message


def test_bad_arguments():
    assert "repeats a token" in refused("", "tokens", list("aa"), 3).message
    assert "max_len" in refused("", "tokens", list("a"), 0).message


def test_runtime_errors_are_clear():
    model = compiled('load "reverse";', "reverse", list("ab"), 4)
    with pytest.raises(RaspError, match="token 'c' at position 2 is not in the"):
        model.forward("abc")
    with pytest.raises(RaspError, match="5 tokens, more than the model's max_len 4"):
        model.forward("ababa")


# ----------------------------------------------------------------- saving and loading

@pytest.fixture(scope="module")
def sort_model() -> Model:
    return compiled('load "sort";', "sorted_tokens", list("abc"), 6)


def test_save_returns_the_file_it_wrote_with_numpys_suffix(tmp_path, sort_model):
    assert sort_model.save(tmp_path / "m.npz") == tmp_path / "m.npz"
    assert sort_model.save(str(tmp_path / "m.bin")) == tmp_path / "m.bin.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin.npz", "m.npz"]
    assert Model.load(tmp_path / "m.bin.npz").forward("cab") == ["a", "b", "c"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError], ids=["Ctrl-C", "a full disk"])
def test_a_save_stopped_midway_keeps_the_previous_model(tmp_path, sort_model, monkeypatch,
                                                        stop):
    out = tmp_path / "m.npz"
    sort_model.save(out)
    before = out.read_bytes()
    real = np.savez

    def interrupted(file, **arrays):
        real(file, **dict(list(arrays.items())[:3]))  # part of the arrays reach the file
        raise stop()

    monkeypatch.setattr(np, "savez", interrupted)
    other = compiled("x = tokens;", "x", list("ab"), 3)
    with pytest.raises(stop):
        other.save(out)
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    assert Model.load(out).forward("cab") == ["a", "b", "c"]


def npz(path: Path, arrays: dict[str, np.ndarray], headers: dict[str, tuple] | None = None
        ) -> Path:
    """An .npz of `arrays`, and of `headers`: name -> (shape declared, bytes that follow)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)
        for name, (shape, data) in (headers or {}).items():
            with archive.open(name + ".npy", "w") as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "<f8", "fortran_order": False, "shape": shape})
                f.write(data)
    return path


def parts(model: Model) -> dict[str, np.ndarray]:
    return dict(model.arrays, config=np.array(json.dumps(model.config)))


def test_a_damaged_model_file_is_one_error_naming_the_file_and_the_fault(tmp_path,
                                                                         sort_model):
    good = sort_model.save(tmp_path / "good.npz")
    arrays = parts(sort_model)
    d = sort_model.config["d_model"]
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    nan = dict(arrays, unembed=np.full_like(arrays["unembed"], np.nan))
    bad_format = dict(arrays, config=np.array(json.dumps(sort_model.config | {"format": 1})))
    no_vocab = dict(arrays, config=np.array(json.dumps(sort_model.config | {"vocab": []})))
    cases = {
        "truncated.npz": "not a rasp-transformer/1 model file (a damaged or truncated .npz: ",
        "text.npz": "not a rasp-transformer/1 model file (a damaged or truncated .npz: ",
        "missing.npz": "the array 'unembed' that its config needs is missing",
        "shape.npz": f"array 'embed.position' has shape (6, {d}), its config needs (7, {d})",
        "extra.npz": "array 'extra' is not part of a model its config describes",
        "nan.npz": "array 'unembed' holds NaN or infinite weights",
        "ints.npz": "array 'unembed' holds int64 values, not floating-point weights",
        "format.npz": 'not a rasp-transformer/1 model: its config does not say "format": '
                      '"rasp-transformer/1"',
        "vocab.npz": "not a rasp-transformer/1 model: its config has no vocab of distinct "
                     "tokens",
        "json.npz": "its config is not JSON (Expecting property name enclosed in double "
                    "quotes: line 1 column 2 (char 1))",
        "noconfig.npz": "not a rasp-transformer/1 model file (it has no 'config' array)",
    }
    (tmp_path / "text.npz").write_text("not a zip at all")
    npz(tmp_path / "missing.npz", {k: v for k, v in arrays.items() if k != "unembed"})
    npz(tmp_path / "shape.npz", dict(arrays, **{"embed.position": arrays["embed.position"][:6]}))
    npz(tmp_path / "extra.npz", dict(arrays, extra=np.zeros(2)))
    npz(tmp_path / "nan.npz", nan)
    npz(tmp_path / "ints.npz", dict(arrays, unembed=arrays["unembed"].astype(np.int64)))
    npz(tmp_path / "format.npz", bad_format)
    npz(tmp_path / "vocab.npz", no_vocab)
    npz(tmp_path / "json.npz", dict(arrays, config=np.array("{not json")))
    npz(tmp_path / "noconfig.npz", {k: v for k, v in arrays.items() if k != "config"})
    for name, fault in cases.items():
        with pytest.raises(RaspError) as refused:
            Model.load(tmp_path / name)
        assert type(refused.value).__name__ == "RaspValueError"
        assert refused.value.message.startswith(f"{tmp_path / name}: {fault}"), name


def test_a_huge_declared_shape_is_refused_before_anything_is_allocated(tmp_path, sort_model):
    import tracemalloc

    # 3 MB of data under a header that declares 3.2 GB: numpy alone would allocate it all
    huge = npz(tmp_path / "huge.npz", {k: v for k, v in parts(sort_model).items()
                                       if k != "layer1.mlp.0.weight"},
               {"layer1.mlp.0.weight": ((20_000, 20_000), bytes(3 << 20))})
    tracemalloc.start()
    try:
        with pytest.raises(RaspError) as refused:
            Model.load(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.message == (
        f"{huge}: array 'layer1.mlp.0.weight' declares shape (20000, 20000) "
        "(3,200,000,000 bytes) but holds 3,145,728 bytes")
    assert peak < 50 << 20
    # shapes the data does hold, but not the ones the config asks for: refused from the header
    wide = npz(tmp_path / "wide.npz", {k: v for k, v in parts(sort_model).items()
                                       if k != "embed.token"},
               {"embed.token": ((4, 100_000), bytes(8 * 400_000))})
    with pytest.raises(RaspError, match=r"array 'embed.token' has shape \(4, 100000\), its "
                       r"config needs \(4, \d+\)"):
        Model.load(wide)


# ----------------------------------------------------------------- the command line

def rasp(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "rasp", "compile", *args], text=True,
                          capture_output=True, cwd=cwd, env=env, timeout=120)


def test_command_compiles_verifies_and_saves(tmp_path):
    out = tmp_path / "dyck.npz"
    result = rasp("dyck", "dyck1", "--vocab", '["(", ")"]', "--max-len", "8", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "dyck1: 2 layers, heads per layer 1/1" in result.stdout
    assert "inputs equal the interpreter (100.00 %)" in result.stdout
    assert Model.load(out).forward("(()") == ["P", "P", "P"]


def test_command_refusal_is_positioned(tmp_path):
    program = tmp_path / "p.rasp"
    program.write_text("x = indices * 3 + 1;\n")
    result = rasp(str(program), "x", "--vocab", "ab", "--max-len", "30", "--max-values", "5")
    assert result.returncode == 70
    assert result.stderr.startswith(f"{program}:1:5: error: the value set of")
    assert "^" in result.stderr and "Traceback" not in result.stderr


def test_command_usage_errors():
    result = rasp("reverse", "reverse", "--vocab", "[1,", "--max-len", "4")
    assert result.returncode == 64 and "not a JSON list" in result.stderr
    result = rasp("no_such_file.rasp", "x", "--vocab", "a", "--max-len", "4")
    assert result.returncode == 64 and "cannot read" in result.stderr
