"""rasp.train's datasets, targets and metrics: numpy only, no torch needed."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter
from rasp.commands import main
from rasp.files import FolderTakenError
from rasp.train import make_dataset, metrics
from rasp.train.data import write_jsonl
from rasp.train.metrics import Accuracy, Agreement, assign, corrected, normalised
from rasp.train.program import load_program
from rasp.train.sampling import BracketSampler, sample_inputs

ROOT = Path(__file__).resolve().parent.parent
PAPER = str(ROOT / "examples" / "paper_examples.rasp")


def selection_rows(matrix: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(row).tolist() for row in matrix]


def dataset_of(source: str, name: str, session_causal: bool = False, **options):
    it = Interpreter(causal=session_causal)
    it.run(source)
    return make_dataset(it, name, **options)


def test_targets_of_a_combined_selector():
    # One head whose selector is `and` of two selects: its target is the combined matrix.
    ds = dataset_of("before = select(tokens, tokens, ==) and select(indices, indices, <);\n"
                    "n_before = aggregate(before, indicator(indices == 0), 0);",
                    "n_before", alphabet="ab", lengths=(4, 4), n_train=10, n_val=3, n_test=3)
    assert [h.selector for h in ds.heads] == ["before"]
    for tokens, _, sel in ds.train.records():
        expected = [[k for k in range(4) if tokens[k] == tokens[q] and k < q] for q in range(4)]
        assert selection_rows(sel[0]) == expected


def test_targets_of_a_bos_program_follow_its_selectors():
    # sort_bos: layer 1 counts the smaller tokens (an `or`/`and` selector, plus the BOS);
    # layer 2 takes the key whose rank is the query's index.
    ds = make_dataset(PAPER, "sort_bos", alphabet="abcd", lengths=(3, 3), bos="§",
                      n_train=20, n_val=2, n_test=2)
    assert [h.key for h in ds.heads] == ["L1H1", "L2H1"]
    for tokens, output, sel in ds.train.records():
        assert tokens[0] == "§" and output[1:] == sorted(tokens[1:])
        before = [[k for k in range(4) if k == 0 or tokens[k] < tokens[q]
                   or (tokens[k] == tokens[q] and k < q)] for q in range(4)]
        assert selection_rows(sel[0]) == before
        rank = {q: len(before[q]) - 1 for q in range(1, 4)}  # what layer 1 computes
        take = [[0]] + [[k for k in range(1, 4) if rank[k] == q - 1] for q in range(1, 4)]
        assert selection_rows(sel[1]) == take


def test_the_same_seed_gives_the_same_data_and_test_inputs_are_unseen():
    def inputs(ds, split):
        return [tuple(t) for t, _, _ in getattr(ds, split).records()]

    options = dict(alphabet="abc", lengths=(1, 6), n_train=300, n_val=30, n_test=50)
    a = make_dataset(PAPER, "reverse", seed=3, **options)
    b = make_dataset(PAPER, "reverse", seed=3, **options)
    c = make_dataset(PAPER, "reverse", seed=4, **options)
    assert inputs(a, "train") == inputs(b, "train") and inputs(a, "test") == inputs(b, "test")
    assert inputs(a, "train") != inputs(c, "train")
    train = set(inputs(a, "train"))
    assert len(train) == 300 and not train & set(inputs(a, "test"))
    assert all(out == t[::-1] for t, out, _ in a.test.records())


def test_test_lengths_draw_unseen_test_inputs_at_other_lengths():
    def inputs(ds, split):
        return [tuple(t) for t, _, _ in getattr(ds, split).records()]

    ds = make_dataset(PAPER, "reverse", alphabet="abc", lengths=(1, 4), test_lengths=(3, 7),
                      n_train=80, n_val=10, n_test=60, seed=1)
    assert {len(t) for t in inputs(ds, "train") + inputs(ds, "val")} <= set(range(1, 5))
    assert {len(t) for t in inputs(ds, "test")} == set(range(3, 8))
    assert not set(inputs(ds, "test")) & set(inputs(ds, "train") + inputs(ds, "val"))
    assert ds.describe()["test_lengths"] == [3, 7] and ds.describe()["lengths"] == [1, 4]
    again = make_dataset(PAPER, "reverse", alphabet="abc", lengths=(1, 4), test_lengths=(3, 7),
                         n_train=80, n_val=10, n_test=60, seed=1)
    assert inputs(again, "test") == inputs(ds, "test")
    assert make_dataset(PAPER, "reverse", lengths=(1, 4), n_train=5, n_val=1, n_test=1
                        ).describe()["test_lengths"] is None


def test_accuracy_within_lengths_sums_the_lengths_asked():
    accuracy = Accuracy()
    accuracy.add(np.array([[1, 1], [1, 0]]), np.array([[1, 1], [1, 1]]))  # length 2
    accuracy.add(np.array([[0, 0, 0]]), np.array([[0, 1, 1]]))  # length 3
    assert accuracy.within(1, 2) == {"token_accuracy": 0.75, "sequence_accuracy": 0.5,
                                     "inputs": 2}
    assert accuracy.within(2, 3) == {"token_accuracy": 4 / 7, "sequence_accuracy": 1 / 3,
                                     "inputs": 3}
    assert accuracy.within(4, 9) == {"token_accuracy": 0.0, "sequence_accuracy": 0.0,
                                     "inputs": 0}


def test_causal_targets_are_the_next_token_on_each_prefix():
    # In a causal session the histogram counts each token over its prefix: the target at
    # position i is what the bidirectional program gives at the last position of x[:i+1].
    source = "hist = selector_width(select(tokens, tokens, ==));"
    ds = dataset_of(source, "hist", session_causal=True, alphabet="abc", lengths=(1, 6),
                    n_train=60, n_val=5, n_test=5, causal=True)
    bidirectional = Interpreter()
    bidirectional.run(source)
    for tokens, output, selection in ds.train.records():
        assert output == [bidirectional.evaluate("hist", tokens[:i + 1])[-1]
                          for i in range(len(tokens))]
        assert not np.triu(selection[0], 1).any()  # the head's target: keys <= query
    assert ds.causal and ds.describe()["causal"] is True
    # A bidirectional dataset of the same program counts over the whole input.
    whole = dataset_of(source, "hist", alphabet="abc", lengths=(6, 6), n_train=5, n_val=1,
                       n_test=1)
    assert all(out == [list(t).count(c) for c in t] for t, out, _ in whole.train.records())


def test_a_causal_dataset_of_a_causal_program_keeps_its_outputs():
    # shift reads only earlier positions: causal semantics change no output, and only the
    # head's target loses the keys after each query.
    shift = str(ROOT / "examples" / "shift.rasp")
    options = dict(alphabet="abc", lengths=(3, 5), n_train=40, n_val=5, n_test=5, seed=2)
    causal = make_dataset(shift, 'shift(tokens, 1, "_")', causal=True, **options)
    plain = make_dataset(shift, 'shift(tokens, 1, "_")', **options)
    assert list(causal.train.records())[0][:2] == list(plain.train.records())[0][:2]
    for (tokens, output, selection), (_, _, full) in zip(causal.train.records(),
                                                         plain.train.records()):
        assert output == ["_", *tokens[:-1]]
        assert (selection == (full & np.tril(np.ones_like(full)))).all()


def test_bracket_sampler_gives_balanced_prefix_and_random_strings():
    program = load_program(PAPER, "dyck2_ptf")
    sampler = BracketSampler("(){}", (2, 12))
    inputs = sample_inputs(sampler, 600, seed=0)
    labels = [out[-1] for out in program.outputs(inputs)]
    shares = {v: labels.count(v) / len(labels) for v in "TPF"}
    assert shares["T"] > 0.25 and shares["P"] > 0.05 and shares["F"] > 0.25
    for n in range(2, 13, 2):
        text = "".join(BracketSampler("()", (n, n)).balanced(np.random.default_rng(n), n))
        assert len(text) == n and program.outputs([list(text)])[0][-1] == "T"


def test_metrics_on_hand_made_attention():
    selection = np.array([[True, False, False],   # one key
                          [True, True, False],    # two keys: the target is 1/2, 1/2
                          [False, False, False]])  # nothing: left out
    attention = np.array([[0.5, 0.25, 0.25],
                          [0.2, 0.2, 0.6],
                          [1.0, 0.0, 0.0]])
    agree = Agreement()
    agree.add(attention, selection)
    result = agree.result()
    assert result["rows"] == 2 and result["empty_rows"] == 1
    assert result["mass"] == pytest.approx((0.5 + 0.4) / 2)
    assert result["argmax"] == pytest.approx(0.5)  # row 1's top key (2) is not selected
    assert result["tv"] == pytest.approx((0.5 + 0.6) / 2)
    uniform = Agreement()
    uniform.add(np.full((1, 4), 0.25), np.array([[True, False, False, False]]))
    assert uniform.result()["tv"] == pytest.approx(0.75)
    assert normalised(selection)[1].tolist() == [0.5, 0.5, 0.0]


def scored(attention: np.ndarray, selection: np.ndarray, causal: bool = False) -> dict:
    """A head's scores with the trivial heads' on the same rows (metrics.corrected)."""
    n = selection.shape[-1]
    head, trivial = Agreement(), {kind: Agreement() for kind in metrics.TRIVIAL_HEADS}
    head.add(attention, selection)
    for kind, agree in trivial.items():
        agree.add(np.broadcast_to(metrics.trivial_attention(kind, n, causal), selection.shape),
                  selection)
    return corrected(head.result(), {k: a.result() for k, a in trivial.items()})


# hist_bos's selector on "§abab": the BOS (key 0) and the same token; the BOS row only itself
SAME_TOKEN_AND_BOS = np.array([[1, 0, 0, 0, 0],
                               [1, 1, 0, 1, 0],
                               [1, 0, 1, 0, 1],
                               [1, 1, 0, 1, 0],
                               [1, 0, 1, 0, 1]], dtype=bool)


def test_trivial_heads_pass_mass_and_argmax_but_gain_nothing():
    """On a selector that includes key 0, the position-0 head has mass and argmax 1 (what
    the issue's table credited to learned heads); neither it nor a uniform head improves
    on the best trivial head, and a uniform head's argmax is not given to key 0's tie."""
    first = scored(metrics.trivial_attention("first", 5), SAME_TOKEN_AND_BOS)
    uniform = scored(np.full((5, 5), 0.2), SAME_TOKEN_AND_BOS)
    assert first["mass"] == first["argmax"] == 1.0
    # tv: position 0 is 2/3 from the four rows of three keys; uniform 0.4 there, 0.8 on
    # the BOS row: uniform is the best trivial head, and neither improves on it
    assert first["tv"] == pytest.approx(4 * (2 / 3) / 5)
    assert uniform["tv"] == pytest.approx((0.8 + 4 * 0.4) / 5)
    assert uniform["best_trivial"] == first["best_trivial"] == "uniform"
    assert uniform["tv_gain"] == 0.0 and first["tv_gain"] < 0
    assert uniform["argmax"] == pytest.approx((1 / 5 + 4 * 3 / 5) / 5)  # ties: a share each
    perfect = scored(normalised(SAME_TOKEN_AND_BOS), SAME_TOKEN_AND_BOS)
    assert perfect["tv"] == 0.0 and perfect["argmax"] == 1.0
    # the most a head can gain: all of the best trivial head's total variation
    assert perfect["tv_gain"] == pytest.approx(uniform["tv"])


def test_an_argmax_tie_counts_the_share_of_its_keys_that_are_selected():
    agree = Agreement()
    agree.add(np.array([[0.4, 0.4, 0.2], [0.5, 0.25, 0.25]]),
              np.array([[True, False, False], [False, True, True]]))
    assert agree.result()["argmax"] == pytest.approx((0.5 + 0.0) / 2)


def test_trivial_heads_attend_by_position_only():
    assert metrics.trivial_attention("previous", 3).tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 0]]
    assert metrics.trivial_attention("diagonal", 2).tolist() == [[1, 0], [0, 1]]
    assert metrics.trivial_attention("first", 2).tolist() == [[1, 0], [1, 0]]
    assert metrics.trivial_attention("uniform", 2).tolist() == [[0.5, 0.5], [0.5, 0.5]]
    # a decoder's uniform head spreads over the keys it can see
    assert metrics.trivial_attention("uniform", 2, causal=True).tolist() == [[1, 0], [0.5, 0.5]]
    prefix = np.tril(np.ones((4, 4), dtype=bool))  # select(indices, indices, <=)
    assert scored(normalised(prefix), prefix, causal=True)["best_trivial"] == "uniform"
    assert scored(normalised(prefix), prefix, causal=True)["tv_gain"] == 0.0
    # a selector that is a trivial head: no head can gain there, and the report says so
    assert scored(normalised(prefix), prefix, causal=True)["trivial_selector"]
    assert not scored(normalised(SAME_TOKEN_AND_BOS), SAME_TOKEN_AND_BOS)["trivial_selector"]


def test_heads_are_matched_one_to_one_at_the_least_total_cost():
    # Greedy matching takes column 0 for row 0 (cost 1) and leaves row 1 the 10; the
    # assignment gives row 0 column 1 instead: 2 + 1 against 1 + 10.
    assert assign(np.array([[1.0, 2.0], [1.0, 10.0]])) == [1, 0]
    # two program heads both closest to model head 0 still get a head each
    assert assign(np.array([[0.1, 0.5, 0.9], [0.2, 0.9, 0.3]])) == [0, 2]
    # more program heads than model heads: the cheapest ones are matched, the rest None
    assert assign(np.array([[0.5], [0.1], [0.7]])) == [None, 0, None]
    rng = np.random.default_rng(0)
    for _ in range(200):  # against every injective choice
        rows, columns = (int(v) for v in rng.integers(1, 5, 2))
        cost = rng.random((rows, columns))
        got = assign(cost)
        total = sum(cost[r, c] for r, c in enumerate(got) if c is not None)
        assert len({c for c in got if c is not None}) == min(rows, columns)
        if rows <= columns:
            best = min(sum(cost[r, c] for r, c in enumerate(p))
                       for p in itertools.permutations(range(columns), rows))
        else:
            best = min(sum(cost[r, c] for c, r in enumerate(p))
                       for p in itertools.permutations(range(rows), columns))
        assert total == pytest.approx(best)


def test_accuracy_skips_the_bos_and_counts_unseen_classes_wrong():
    acc = Accuracy(first_scored=1)
    acc.add(np.array([[9, 1, 2], [9, 1, 0]]), np.array([[0, 1, 2], [0, 1, -1]]))
    result = acc.result()
    assert result["token_accuracy"] == pytest.approx(3 / 4)
    assert result["sequence_accuracy"] == pytest.approx(1 / 2)
    assert result["by_length"]["2"]["inputs"] == 2  # inputs of 2 tokens after the BOS


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_rasp_dataset_writes_jsonl_with_selections(tmp_path):
    status, out, err = run_cli("dataset", PAPER, "reverse", "--lengths", "2:4", "--train",
                               "40", "--val", "5", "--test", "5", "--selections",
                               "--out", str(tmp_path))
    assert status == 0, err
    lines = (tmp_path / "train.jsonl").read_text().splitlines()
    assert len(lines) == 40
    record = json.loads(lines[0])
    n = len(record["input"])
    assert record["output"] == record["input"][::-1]
    assert record["selections"]["L2H1"] == [[n - 1 - q] for q in range(n)]
    assert record["selections"]["L1H1"] == [list(range(n))] * n
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["analysis"]["layers"] == 2 and meta["sizes"] == {"train": 40, "val": 5,
                                                                  "test": 5}
    # one numbering: the head the rows call L1H1 is layer 1, head 1 in meta.json
    assert [f"L{h['layer']}H{h['head']}" for h in meta["heads"]] == ["L1H1", "L2H1"]
    assert sorted(record["selections"]) == ["L1H1", "L2H1"]
    # rows come shuffled with the seed, not sorted by length (a length curriculum)
    lengths = [len(json.loads(line)["input"]) for line in lines]
    assert lengths != sorted(lengths) and set(lengths) == {2, 3, 4}


def test_a_jsonl_dataset_folder_is_one_datasets_and_a_failed_write_leaves_no_meta(
        tmp_path, monkeypatch):
    first = make_dataset(PAPER, "reverse", lengths=(2, 4), n_train=40, n_val=5, n_test=5)
    second = make_dataset(PAPER, "reverse", lengths=(2, 4), n_train=40, n_val=5, n_test=5,
                          seed=1)
    write_jsonl(first, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["meta.json", "test.jsonl", "train.jsonl", "val.jsonl"]
    with pytest.raises(FolderTakenError, match="holds a complete dataset"):
        write_jsonl(second, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

    def fails():  # the val split cannot be written: a full disk, a bad value
        yield from []
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(second.val, "records", fails)
    with pytest.raises(OSError, match="No space left"):
        write_jsonl(second, tmp_path, force=True)
    # no meta.json: nothing a reader takes for a whole dataset; train.jsonl whole, the new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.jsonl"]
    assert len((tmp_path / "train.jsonl").read_text().splitlines()) == 40
    assert (tmp_path / "train.jsonl").read_bytes() != before["train.jsonl"]


@pytest.mark.parametrize("argv, status, message", [
    (["nope"], 70, "defines no 'nope'"),
    (["_mirror"], 70, "'_mirror' is a selector"),
    (["reverse", "--lengths", "3-4"], 64, "rasp dataset: --lengths: expected MIN:MAX"),
    (["reverse", "--lengths", "4:3"], 64, "rasp dataset: --lengths: 4:3: need 1 <= MIN <= MAX"),
    (["reverse", "--vocab", "aab"], 64, "rasp dataset: --vocab: the vocabulary ['a', 'a', 'b'] "
     "repeats a token"),
    (["reverse", "--vocab", ""], 64, "rasp dataset: --vocab: the vocabulary is empty"),
    (["reverse", "--sampler", "brackets"], 64, "--sampler: the brackets sampler needs a bracket "
     "pair"),
    (["reverse", "--train", "0"], 64, "--train, --val and --test: at least one input each"),
    (["reverse", "--lengths", "1:2", "--vocab", "ab"], 70, "distinct inputs"),
    (["reverse", "--test-lengths", "0:3"], 64, "--test-lengths: 0:3: need 1 <= MIN <= MAX"),
    (["reverse", "--causal", "--format", "parquet"], 64,
     "rasp dataset: --causal writes JSONL: leave out --format parquet"),
    (["reverse", "--test-lengths", "5:6", "--workers", "2"], 64,
     "rasp dataset: --test-lengths writes JSONL: leave out --workers"),
    (["reverse", "--steps", "2"], 64, "rasp dataset: --steps goes with --format next-token"),
    (["reverse", "--format", "next-token"], 64, "--format next-token needs --steps N"),
    (["reverse", "--format", "next-token", "--steps", "-1"], 64,
     "rasp dataset: --steps: must be at least 0, not -1"),
    (["reverse", "--format", "next-token", "--steps", "2", "--selections"], 64,
     "--selections: the next-token format has no attention targets"),
    (["reverse", "--format", "next-token", "--steps", "2", "--until", "z"], 64,
     "rasp dataset: --until z: not a token of the vocabulary"),
    (["reverse", "--format", "next-token", "--steps", "2", "--shard-size", "5"], 64,
     "rasp dataset: --shard-size writes Parquet: leave out --format next-token"),
])
def test_bad_dataset_arguments_give_one_clear_error(tmp_path, argv, status, message):
    code, _, err = run_cli("dataset", PAPER, *argv, "--out", str(tmp_path))
    assert code == status and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_alphabet_the_program_cannot_read(tmp_path):
    program = tmp_path / "p.rasp"
    program.write_text("double = tokens_int * 2;\n")
    status, _, err = run_cli("dataset", str(program), "double", "--vocab", "12x",
                             "--out", str(tmp_path / "d"))
    assert status == 70 and "'double' cannot read inputs over the alphabet '12x'" in err
    assert len(err.strip().splitlines()) == 1


def test_without_torch_rasp_train_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    status, _, err = run_cli("train", PAPER, "reverse")
    assert status == 64 and err.strip() == ("rasp train: training needs PyTorch and "
                                           "matplotlib: pip install torch matplotlib (in a "
                                           "checkout of rasp: pip install '.[train]')")


def test_the_core_and_datasets_never_import_torch():
    code = ("import sys, rasp, rasp.commands, rasp.repl, rasp.train, rasp.train.data, "
            "rasp.commands.dataset; assert 'torch' not in sys.modules and "
            "'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_causal_data_of_a_program_that_reads_the_future_is_refused_at_its_selector(tmp_path):
    code, _, err = run_cli("dataset", PAPER, "reverse", "--causal", "--lengths", "1:3",
                           "--out", str(tmp_path / "d"))
    assert code == 70 and "Traceback" not in err, err
    assert ("paper_examples.rasp:30:11: error: --causal needs a program whose positions never "
            "read later ones, but 'reverse' does, through selector '_mirror'") in err
    assert not (tmp_path / "d").exists()
    # The same program in a causal session is causal by construction: its data is made.
    causal = tmp_path / "causal.rasp"
    causal.write_text("set causal on;\nhist = selector_width(select(tokens, tokens, ==));\n")
    code, _, err = run_cli("dataset", str(causal), "hist", "--causal", "--lengths", "1:3",
                           "--train", "20", "--val", "2", "--test", "2", "--out",
                           str(tmp_path / "h"))
    assert code == 0, err
    first = json.loads((tmp_path / "h" / "train.jsonl").read_text().splitlines()[0])
    assert first["output"] == [first["input"][:i + 1].count(t)
                               for i, t in enumerate(first["input"])]


SHIFT = str(ROOT / "examples" / "shift.rasp")


def test_the_next_token_format_holds_each_prompt_and_what_generation_appends(tmp_path):
    # shift(tokens, 1, "a") appends the token before the last: after x it alternates
    # x[-2], x[-1], x[-2], ... ; --until stops after the first "c".
    code, out, err = run_cli("dataset", SHIFT, 'shift(tokens, 1, "a")', "--causal", "--vocab",
                             "abc", "--lengths", "2:4", "--train", "30", "--val", "3",
                             "--test", "3", "--format", "next-token", "--steps", "5",
                             "--until", "c", "--out", str(tmp_path))
    assert code == 0, err
    records = [json.loads(line) for name in ("train", "val", "test")
               for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    assert len(records) == 36
    for r in records:
        x = r["prompt"]
        expected = [x[-2], x[-1], x[-2], x[-1], x[-2]]
        if "c" in expected:
            expected = expected[:expected.index("c") + 1]
        assert r["target"] == expected, r
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert (meta["format"], meta["steps"], meta["until"], meta["causal"]) == (
        "next-token", 5, "c", True)


def test_a_generation_whose_value_is_not_a_token_writes_nothing(tmp_path):
    counting = str(ROOT / "examples" / "counting.rasp")
    code, _, err = run_cli("dataset", counting, 'fraction_so_far(tokens == "a") > 0.5',
                           "--vocab", "ab", "--lengths", "2:3", "--train", "5", "--val", "1",
                           "--test", "1", "--format", "next-token", "--steps", "2", "--out",
                           str(tmp_path / "d"))
    assert code == 70 and "Traceback" not in err, err
    assert "step 1: the value at the last position of" in err and \
           "which is not in the vocabulary ['a', 'b']" in err
    assert not (tmp_path / "d").exists()
