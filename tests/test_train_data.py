"""rasp.train's datasets, targets and metrics: numpy only, no torch needed."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rasp import Interpreter
from rasp.commands import main
from rasp.files import FolderTakenError
from rasp.train import make_dataset
from rasp.train.data import write_jsonl
from rasp.train.metrics import Accuracy, Agreement, normalised
from rasp.train.program import load_program
from rasp.train.sampling import BracketSampler, sample_inputs

ROOT = Path(__file__).resolve().parent.parent
PAPER = str(ROOT / "examples" / "paper_examples.rasp")


def selection_rows(matrix: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(row).tolist() for row in matrix]


def dataset_of(source: str, name: str, **options):
    it = Interpreter()
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
