"""rasp.train with torch: the loss, a tiny training run and its files, the ablations, and the
command line's errors. Kept short: a run of a few hundred steps."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from rasp.commands import main  # noqa: E402
from rasp.errors import RaspValueError  # noqa: E402
from rasp.files import FolderLockedError, FolderTakenError, claim_folder  # noqa: E402
from rasp.train import make_dataset  # noqa: E402
from rasp.train.ablations import variants  # noqa: E402
from rasp.train.loop import Run, TrainConfig, _Objective, load_run, train  # noqa: E402
from rasp.train.model import ModelConfig, Transformer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAPER = str(ROOT / "examples" / "paper_examples.rasp")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_a_tiny_run_writes_every_file_and_its_metrics_hold(tmp_path):
    # reverse, lengths 1..6: 30 steps an epoch, 10 epochs.
    status, out, err = run_cli("train", PAPER, "reverse", "--lengths", "1:6", "--train",
                               "1500", "--val", "100", "--test", "200", "--epochs", "10",
                               "--supervise-attention", "--plot", "abcd", "--out",
                               str(tmp_path), "--json")
    assert status == 0, err
    metrics = json.loads(out)
    assert metrics == json.loads((tmp_path / "metrics.json").read_text())
    for name in ("config.json", "model.pt", "history.jsonl", "plots/curves.png",
                 "plots/attention.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == list(range(1, len(history) + 1))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["layers"] == 2 and config["model"]["heads"] == 1
    assert config["data"]["analysis"]["heads_per_layer"] == [1, 1]
    assert config["supervised_heads"] == ["L1H1", "L2H1"]
    # one numbering, 1-based as the analysis prints it, in every file of the run
    for heads in (config["data"]["heads"], metrics["attention"]):
        assert [f"L{h['layer']}H{h['head']}" for h in heads] == ["L1H1", "L2H1"]
    assert [(a["layer"], a["selector"]) for a in metrics["attention"]] == [
        (1, "full_s"), (2, "_mirror")]
    # The saved model gives the reported test accuracy on the same test inputs.
    saved = torch.load(tmp_path / "model.pt")
    model = Transformer(ModelConfig(**saved["model"]))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    data = make_dataset(PAPER, "reverse", alphabet="abcdefgh", lengths=(1, 6), n_train=1500,
                        n_val=100, n_test=200)
    hits = total = 0
    with torch.no_grad():
        for group in data.test.groups:
            logits, _ = model(torch.as_tensor(group.x))
            hits += int((logits.argmax(-1).numpy() == group.y).sum())
            total += group.y.size
    assert hits / total == pytest.approx(metrics["test"]["token_accuracy"])
    assert sum(v["inputs"] for v in metrics["test"]["by_length"].values()) == 200
    again = load_run(tmp_path)
    assert again.metrics == metrics and again.supervised == [(0, 0, 0), (1, 1, 0)]
    output, attentions = again.predict(list("abcd"))
    assert len(output) == 4 and [a.shape for a in attentions] == [(1, 4, 4)] * 2


def test_attention_loss_is_zero_on_the_selector_and_larger_elsewhere():
    data = make_dataset(PAPER, "reverse", lengths=(4, 4), n_train=5, n_val=1, n_test=1)
    model = Transformer(ModelConfig(vocab=8, classes=8, layers=2, heads=1))
    selection = torch.as_tensor(data.train.groups[0].selections[1])  # _mirror: one key a row
    target = selection.float()
    uniform = torch.full_like(target, 0.25)
    for kind in ("mse", "ce"):
        run = Run(model, data, TrainConfig(attention_loss=kind).checked(data))
        loss = _Objective(run).head_loss
        assert loss(target, selection).item() == pytest.approx(0.0, abs=1e-6)
        assert loss(uniform, selection).item() > 0.1
    assert _Objective(Run(model, data, TrainConfig().checked(data))).head_loss(
        uniform, selection).item() == pytest.approx((0.75 ** 2 + 3 * 0.25 ** 2) / 4)


def test_ablations_are_the_papers_four_sizes():
    data = make_dataset(PAPER, "hist2_bos", bos="§", lengths=(2, 4), n_train=50, n_val=5,
                        n_test=5)
    sizes = [(c.layers, c.heads, c.d_model, c.supervise)
             for c in variants(TrainConfig(supervise=True).checked(data))]
    assert sizes == [(2, 2, 64, False), (2, 2, 64, True), (2, 1, 64, False),
                     (1, 2, 64, False), (1, 4, 128, False)]


SMALL = ["--lengths", "1:3", "--train", "40", "--val", "5", "--test", "5"]


def test_a_log_gets_a_line_per_epoch(tmp_path):
    """stderr not a terminal (a log): one line an epoch, no bar, no carriage returns."""
    status, _, err = run_cli("train", PAPER, "reverse", *SMALL, "--epochs", "2", "--out",
                             str(tmp_path / "r"))
    assert status == 0, err
    assert "\r" not in err
    epochs = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2
    for number, line in enumerate(epochs, 1):
        assert re.fullmatch(rf"epoch {number}/2 loss \d+\.\d{{4}} acc [01]\.\d{{3}}  "
                            r"val loss \d+\.\d{4} acc [01]\.\d{3}", line), line


def test_an_interrupted_sweep_exits_130_and_says_which_runs_are_missing(tmp_path,
                                                                      monkeypatch):
    """Ctrl-C in the sweep's second run: that run is kept at its best checkpoint and marked,
    the third is missing, summary.json says so, and the exit code is 130."""
    from rasp.train import loop

    real, calls = loop._fit, []

    def fit(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(loop, "_fit", fit)
    status, out, err = run_cli("train", PAPER, "reverse", *SMALL, "--epochs", "1",
                               "--ablations", "--out", str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert status == 130
    assert [(r["folder"], r["interrupted"]) for r in summary["runs"]] == [
        ("L2H1-d64-s0", False), ("L1H1-d64-s0", True)]
    assert summary["missing"] == ["L1H2-d128-s0"] and summary["complete"] is False
    assert err.splitlines()[-1] == ("rasp train: interrupted: L1H1-d64-s0 stopped early (its "
                                    "best checkpoint kept), 1 run missing (summary.json "
                                    "lists them)")
    assert "files: " in out and not (tmp_path / "L1H2-d128-s0").exists()


def tiny() -> Any:
    return make_dataset(PAPER, "reverse", lengths=(1, 3), n_train=40, n_val=5, n_test=5)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_run_folder_belongs_to_one_run(tmp_path):
    folder = tmp_path / "run"
    train(tiny(), out=folder, epochs=1, quiet=True)
    assert sorted(files(folder)) == ["config.json", "history.jsonl", "metrics.json", "model.pt"]
    (folder / "plots").mkdir()
    (folder / "plots" / "attention.png").write_bytes(b"the first run's picture")
    before = files(folder)
    with pytest.raises(FolderTakenError) as refused:  # another run: refused, nothing touched
        train(tiny(), out=folder, epochs=1, quiet=True, seed=1)
    assert refused.value.message == (
        f"{folder} holds a complete training run (config.json, history.jsonl, metrics.json, "
        "model.pt, plots): choose another folder, or --force to replace it")
    assert files(folder) == before
    with claim_folder(folder, "training run", [], "config.json"):  # a run at work there
        with pytest.raises(FolderLockedError, match=f"process {os.getpid()}"):
            train(tiny(), out=folder, epochs=1, quiet=True, seed=1, force=True)
    assert files(folder) == before
    train(tiny(), out=folder, epochs=1, quiet=True, seed=1, force=True)
    assert sorted(files(folder)) == ["config.json", "history.jsonl", "metrics.json", "model.pt"]
    assert load_run(folder).config.seed == 1  # the stale picture went with the old run


def test_load_run_refuses_a_folder_that_is_not_one_complete_run(tmp_path):
    for seed in (0, 1):
        train(tiny(), out=tmp_path / f"s{seed}", epochs=1, quiet=True, seed=seed)
    (tmp_path / "s0" / "metrics.json").write_bytes((tmp_path / "s1" / "metrics.json")
                                                   .read_bytes())
    with pytest.raises(RaspValueError) as refused:
        load_run(tmp_path / "s0")
    assert refused.value.message == (f"{tmp_path / 's0'} is not one complete run: metrics.json "
                                     "is not the file config.json lists (the folder mixes runs)")
    described = json.loads((tmp_path / "s1" / "config.json").read_text())
    del described["files"]  # as rasp wrote config.json before it checked runs whole
    (tmp_path / "s1" / "config.json").write_text(json.dumps(described))
    with pytest.raises(RaspValueError) as refused:
        load_run(tmp_path / "s1")
    assert refused.value.message == (
        f"{tmp_path / 's1' / 'config.json'} lists no files with their SHA-256: not a training "
        "run's config.json, or one written before rasp checked runs whole")
    (tmp_path / "s1" / "config.json").unlink()
    with pytest.raises(RaspValueError) as refused:
        load_run(tmp_path / "s1")
    assert refused.value.message == (f"{tmp_path / 's1'} holds no complete training run (no "
                                     "config.json: the run did not finish, or this is not a "
                                     "run's folder)")


KILLED_IN_EPOCH_2 = f"""
import os, signal, sys
from rasp.train import loop, make_dataset
real, epochs = loop._train_epoch, []
def epoch(*args):
    epochs.append(1)
    if len(epochs) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
loop._train_epoch = epoch
data = make_dataset({PAPER!r}, "reverse", lengths=(1, 3), n_train=40, n_val=5, n_test=5)
loop.train(data, out=sys.argv[1], epochs=3, quiet=True, force=True)
"""


def test_a_killed_rerun_leaves_nothing_that_reads_as_a_run_and_a_forced_one_completes(
        tmp_path):
    train(tiny(), out=tmp_path, epochs=1, quiet=True)
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_EPOCH_2, str(tmp_path)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1  # its first epoch
    assert not (tmp_path / "config.json").exists()  # removed first: no mix with the old run
    with pytest.raises(RaspValueError, match="holds no complete training run"):
        load_run(tmp_path)
    with pytest.raises(FolderTakenError, match="holds an unfinished training run"):
        train(tiny(), out=tmp_path, epochs=1, quiet=True)
    run = train(tiny(), out=tmp_path, epochs=2, quiet=True, force=True)  # its lock is stale
    assert load_run(tmp_path).history == run.history and len(run.history) == 2


@pytest.mark.parametrize("argv, status, message", [
    (["revers"], 70, "defines no 'revers' (did you mean reverse?)"),
    (["_mirror"], 70, "'_mirror' is a selector"),
    (["reverse", "--layers", "0"], 64, "rasp train: --layers must be at least 1"),
    (["reverse", "--heads", "3"], 64, "--d-model (64) must be a positive multiple of --heads (3)"),
    (["reverse", "--epochs", "x"], 64, "rasp train: --epochs: invalid int value"),
    (["reverse", "--plot", "xyz"], 64, "'x' is not in the alphabet"),
    (["reverse", "--seeds", "0"], 64, "rasp train: --seeds: must be at least 1, not 0"),
    (["reverse", "--test-lengths", "3-4"], 64, "rasp train: --test-lengths: expected MIN:MAX"),
])
def test_bad_train_arguments_give_one_clear_error(tmp_path, argv, status, message):
    code, _, err = run_cli("train", PAPER, *argv, "--lengths", "1:3", "--train", "20",
                           "--val", "5", "--test", "5", "--out", str(tmp_path))
    assert code == status and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_causal_model_never_reads_later_tokens():
    # Changing the last token changes no earlier output of the decoder, and does change the
    # encoder's (so the check can fail).
    torch.manual_seed(0)
    x = torch.tensor([[1, 2, 3, 0, 2]])
    changed = x.clone()
    changed[0, -1] = 3
    for causal in (True, False):
        model = Transformer(ModelConfig(vocab=4, classes=5, layers=2, heads=2,
                                        causal=causal)).eval()
        with torch.no_grad():
            (before, attentions), (after, _) = model(x), model(changed)
        same = torch.allclose(before[0, :-1], after[0, :-1])
        assert same == causal
        if causal:
            assert all(float(a[..., :, :].triu(1).abs().max()) == 0.0 for a in attentions)


SHIFT = str(ROOT / "examples" / "shift.rasp")


def test_train_causal_refuses_a_program_that_reads_the_future(tmp_path):
    code, _, err = run_cli("train", PAPER, "hist_nobos", "--causal", "--lengths", "1:3", "--train",
                           "20", "--val", "5", "--test", "5", "--out", str(tmp_path / "run"))
    assert code == 70 and "Traceback" not in err, err
    assert "error: --causal needs a program whose positions never read later ones, but " \
           "'hist_nobos' does, through selector" in err
    assert not (tmp_path / "run").exists()


def test_a_decoder_run_reports_accuracy_beyond_its_training_lengths(tmp_path):
    status, out, err = run_cli("train", SHIFT, 'shift(tokens, 1, "_")', "--causal", "--vocab",
                               "abcdef", "--train-lengths", "1:4", "--test-lengths", "3:6",
                               "--train", "100", "--val", "10", "--test", "60", "--epochs",
                               "2", "--out", str(tmp_path))
    assert status == 0, err
    assert "(longer than training)" in out and "longer than 4: token accuracy" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())["test"]
    assert set(metrics["by_length"]) == {"3", "4", "5", "6"}
    trained, longer = metrics["trained_lengths"], metrics["longer"]
    assert trained["inputs"] + longer["inputs"] == 60
    assert longer["inputs"] == sum(metrics["by_length"][n]["inputs"] for n in ("5", "6"))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["causal"] is True and config["model"]["max_length"] == 6
    assert config["data"]["causal"] is True and config["data"]["test_lengths"] == [3, 6]
    again = load_run(tmp_path)  # the same data again, and a decoder again
    assert again.model.config.causal and again.dataset.test_lengths == (3, 6)
    assert [t for t, _, _ in again.dataset.test.records()] == [
        t for t, _, _ in make_dataset(SHIFT, 'shift(tokens, 1, "_")', alphabet="abcdef",
                                      lengths=(1, 4), test_lengths=(3, 6), n_train=100,
                                      n_val=10, n_test=60, causal=True).test.records()]


def test_a_plot_input_beyond_learned_positions_is_refused_before_training(tmp_path):
    code, _, err = run_cli("train", PAPER, "reverse", *SMALL, "--positions", "learned",
                           "--plot", "abcd", "--out", str(tmp_path / "run"))
    assert code == 64 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.strip() == ("rasp train: --plot 'abcd': 4 tokens, but learned positions cover "
                           "only the data's lengths, up to 3 (with the BOS); give a shorter "
                           "input, --test-lengths up to its length, or sin positions")
    assert not (tmp_path / "run").exists()
    # test lengths beyond training: the learned positions cover them
    run = train(make_dataset(PAPER, "reverse", lengths=(1, 3), test_lengths=(4, 5),
                             n_train=40, n_val=5, n_test=5), epochs=1, quiet=True,
                positions="learned")
    assert run.model.config.max_length == 5
    assert set(run.metrics["test"]["by_length"]) == {"4", "5"}
    assert len(run.predict(list("abcde"))[0]) == 5
    with pytest.raises(RaspValueError) as refused:
        run.predict(list("abcdef"))
    assert refused.value.message == ("the model's learned positions cover inputs of up to 5 "
                                     "tokens; this one has 6")


def test_load_run_works_from_another_folder_and_refuses_an_edited_program(tmp_path,
                                                                          monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    program = tmp_path / "work" / "rev.rasp"
    program.write_text((ROOT / "examples" / "paper_examples.rasp").read_text())
    monkeypatch.chdir(tmp_path / "work")
    data = make_dataset("rev.rasp", "reverse", lengths=(1, 3), n_train=40, n_val=5, n_test=5)
    run = train(data, out="run", epochs=1, quiet=True)
    monkeypatch.chdir(tmp_path / "elsewhere")  # "rev.rasp" means nothing here
    again = load_run(tmp_path / "work" / "run")
    assert again.metrics == run.metrics and again.dataset.classes == run.dataset.classes
    assert again.predict(list("abc"))[0] == run.predict(list("abc"))[0]
    program.write_text(program.read_text().replace("_mirror, tokens_str", "_mirror, tokens"))
    with pytest.raises(RaspValueError) as refused:
        load_run(tmp_path / "work" / "run")
    assert refused.value.message == (
        f"{program}: the program changed since the run in {tmp_path / 'work' / 'run'} (its "
        "SHA-256 is not the one config.json records): its data and output labels would not "
        "be the run's")


def test_load_model_reads_model_pt_alone_and_predicts_as_the_run(tmp_path):
    from rasp.train import load_model

    data = make_dataset(PAPER, "hist_bos", bos="§", lengths=(1, 3), n_train=40, n_val=5,
                        n_test=5)
    run = train(data, out=tmp_path, epochs=1, quiet=True)
    model = load_model(tmp_path / "model.pt")
    assert model.bos == "§" and model.vocab == data.vocab and model.classes == data.classes
    out, attentions = model.predict(list("§aba"))
    assert (out, [a.tolist() for a in attentions]) == (
        run.predict(list("§aba"))[0], [a.tolist() for a in run.predict(list("§aba"))[1]])
    with pytest.raises(RaspValueError, match="'z' is not in the model's vocabulary"):
        model.predict(list("§z"))
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(RaspValueError, match="not a model rasp can load as weights"):
        load_model(tmp_path / "bad.pt")


def test_threads_are_honoured_during_the_run_and_recorded(tmp_path, monkeypatch):
    from rasp.train import loop

    real, seen = loop._fit, []

    def fit(*args: Any) -> str:
        seen.append(torch.get_num_threads())
        return real(*args)

    monkeypatch.setattr(loop, "_fit", fit)
    status, _, err = run_cli("train", PAPER, "reverse", *SMALL, "--epochs", "1", "--threads",
                             "2", "--out", str(tmp_path))
    assert status == 0, err
    assert seen == [2] and torch.get_num_threads() == 1  # as before the run, after it
    environment = json.loads((tmp_path / "config.json").read_text())["environment"]
    assert environment["threads"] == 2 and environment["cpu"]
    assert environment["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", environment["commit"])


def test_the_checkpoint_follows_the_validation_task_loss_and_patience_stops(monkeypatch):
    """Validation losses 1.0, 0.5, 0.7, 0.6, 0.9 (the attention loss falling all along):
    epoch 2 is kept, and patience 3 stops after epoch 5."""
    from rasp.train import loop

    real, losses = loop.evaluate, iter([1.0, 0.5, 0.7, 0.6, 0.9, 0.1])
    epoch = {"n": 0}

    def evaluate(run: Run, split: Any, assignment: Any = None) -> dict:
        result = real(run, split, assignment)
        if assignment is None:  # a validation during training
            epoch["n"] += 1
            result |= {"loss": next(losses), "attention_loss": 1.0 / epoch["n"],
                       "token_accuracy": 0.5}
        return result

    monkeypatch.setattr(loop, "evaluate", evaluate)
    run = train(tiny(), epochs=10, patience=3, supervise=True, quiet=True)
    assert [r["epoch"] for r in run.history if r.get("best")] == [1, 2]
    assert run.metrics["checkpoint"] == {"epochs": 5, "stopped": "patience", "epoch": 2,
                                         "val_loss": 0.5, "val_attention_loss": 0.5}


def test_unsupervised_heads_are_matched_one_to_one_on_the_validation_split(monkeypatch):
    from rasp.train import loop

    data = make_dataset(PAPER, "hist2_bos", bos="§", lengths=(1, 4), n_train=60, n_val=10,
                        n_test=10)
    real, splits = loop._scan, []

    def scan(run: Run, split: Any, pairs: Any, trivial: bool = False) -> Any:
        splits.append((split is data.val, split is data.test, len(pairs), trivial))
        return real(run, split, pairs, trivial)

    monkeypatch.setattr(loop, "_scan", scan)
    run = train(data, epochs=1, quiet=True)
    # after the epoch's validation: the match on validation (2 + 1 program heads x 2 model
    # heads each), then the test with the 3 matched pairs and the trivial heads
    assert splits[-2:] == [(True, False, 6, False), (False, True, 3, True)]
    layer1 = [a["model_head"] for a in run.metrics["attention"] if a["layer"] == 1]
    assert sorted(layer1) == [1, 2]
    for a in run.metrics["attention"]:
        assert set(a["trivial"]) == {"first", "uniform", "previous", "diagonal"}
        assert a["tv_gain"] == pytest.approx(a["trivial"][a["best_trivial"]]["tv"] - a["tv"])


def test_a_picture_with_an_unused_head_and_another_run_beside(tmp_path):
    """hist2_bos at 2 x 2 heads: layer 2's second model head serves no program head and is
    drawn alone; the unsupervised run's matched heads go beside the supervised ones."""
    from rasp.train.plots import _caption, panels, plot_attention

    data = make_dataset(PAPER, "hist2_bos", bos="§", lengths=(1, 4), n_train=60, n_val=10,
                        n_test=10)
    supervised = train(data, epochs=1, quiet=True, supervise=True)
    plain = train(data, epochs=1, quiet=True)
    path = plot_attention(supervised, list("§aab"), tmp_path / "a.png", beside=plain)
    assert path.read_bytes().startswith(b"\x89PNG")
    rows = panels(supervised, list("§aab"), beside=plain)
    twins = {(a["layer"], a["head"]): a["model_head"] for a in plain.metrics["attention"]}
    assert [[title.split(":")[0] for _, title in row] for row in rows] == [
        ["L1H1 program, line 26", "L1H1 supervised", f"L1H{twins[1, 1]} unsupervised",
         "L1H2 program, line 49", "L1H2 supervised", f"L1H{twins[1, 2]} unsupervised"],
        ["L2H1 program, line 55", "L2H1 supervised", f"L2H{twins[2, 1]} unsupervised",
         "L2H2 model (no program head)"]]
    assert all(matrix.shape == (4, 4) for row in rows for matrix, _ in row)
    source = data.program.source
    assert _caption("L2H1", data.heads[2].selector, source) == (
        "L2H1 program, line 55: return _bos_width(select(hist_bos, hist_bos, ==) and "
        "first_of_kind);")
    assert _caption("L1H1", "full_s", source) == "L1H1 program: full_s"
