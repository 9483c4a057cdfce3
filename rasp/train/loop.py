"""Training: cross-entropy on the program's outputs, optionally with each analysed head's
attention pulled toward its selector; evaluation; the run's files.

The protocol is the paper's runner at CPU scale: Adam, an exponential learning-rate decay per
epoch, and an early stop after three epochs at full validation accuracy, or (with `patience`)
after that many epochs without a better validation loss. The checkpoint kept is the one with
the lowest validation cross-entropy, the task's loss alone: the attention loss of a
supervised run is recorded beside it, never traded against it. In an unsupervised model the
program's heads are matched one to one with the model's heads of their layer on the
validation set, then scored on the test set.
"""

from __future__ import annotations

import copy
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import RaspValueError
from ..files import atomic, claim_folder, json_text, write_atomic
from .data import Dataset, Group, Split, make_dataset
from .metrics import TRIVIAL_HEADS, Accuracy, Agreement, assign, corrected, trivial_attention
from .model import POSITIONS, ModelConfig, TrainedModel, Transformer, load_model
from .runs import MANIFEST, PLOTS, RUN_FILES, environment, manifest, program_file, sha256

__all__ = ["TrainConfig", "Run", "train", "load_run", "ATTENTION_LOSSES", "EMPTY_ROWS",
           "RUN_FILES", "PLOTS", "evaluate", "match_heads", "positions_needed"]

ATTENTION_LOSSES = ("mse", "ce")
EMPTY_ROWS = ("skip", "uniform", "bos")
DEFAULT_ATTENTION_WEIGHT = {"mse": 100.0, "ce": 1.0}
STOP_AFTER_PERFECT = 3  # epochs in a row at validation accuracy 1 before stopping


@dataclass
class TrainConfig:
    layers: int | None = None  # None: the analysis' layers
    heads: int | None = None  # None: the analysis' widest layer
    d_model: int = 64
    ff: int | None = None  # None: 2 * d_model
    positions: str = "sin"
    dropout: float = 0.0
    epochs: int = 20  # at most, with patience
    patience: int | None = None  # stop after this many epochs without a better val loss
    batch: int = 50
    lr: float = 1e-3
    gamma: float = 0.95
    seed: int = 0
    supervise: bool = False
    attention_loss: str = "mse"
    attention_weight: float | None = None  # None: 100 for mse, 1 for ce
    empty_rows: str = "skip"
    device: str = "cpu"
    threads: int = 1  # torch's CPU threads while training: one reproduces, and was fastest

    @property
    def size(self) -> tuple[int, int, int]:
        """(layers, heads, ff), once `checked` has filled them in."""
        assert self.layers is not None and self.heads is not None and self.ff is not None
        return self.layers, self.heads, self.ff

    @property
    def weight(self) -> float:
        """The attention loss' weight, once `checked` has filled it in."""
        assert self.attention_weight is not None
        return self.attention_weight

    def checked(self, dataset: Dataset) -> TrainConfig:
        """A copy with the defaults filled in from the dataset; RaspValueError if unusable."""
        c = copy.copy(self)
        c.layers = dataset.program.layers if c.layers is None else c.layers
        c.heads = max(dataset.program.max_heads, 1) if c.heads is None else c.heads
        c.ff = 2 * c.d_model if c.ff is None else c.ff
        if c.attention_weight is None:
            c.attention_weight = DEFAULT_ATTENTION_WEIGHT.get(c.attention_loss, 1.0)
        problems = [
            (c.layers < 1, f"--layers must be at least 1, not {c.layers}"),
            (c.heads < 1, f"--heads must be at least 1, not {c.heads}"),
            (c.d_model < 1 or c.d_model % c.heads != 0,
             f"--d-model ({c.d_model}) must be a positive multiple of --heads ({c.heads})"),
            (c.ff < 1, "--ff must be at least 1"),
            (c.epochs < 1, "--epochs must be at least 1"),
            (c.patience is not None and c.patience < 1, "--patience must be at least 1"),
            (c.threads < 1, "--threads must be at least 1"),
            (c.batch < 1, "--batch must be at least 1"),
            (not c.lr > 0, "--lr must be positive"),
            (c.positions not in POSITIONS, f"--positions must be one of {', '.join(POSITIONS)}"),
            (c.attention_loss not in ATTENTION_LOSSES,
             f"--attention-loss must be one of {', '.join(ATTENTION_LOSSES)}"),
            (c.empty_rows not in EMPTY_ROWS,
             f"--empty-rows must be one of {', '.join(EMPTY_ROWS)}"),
            (c.empty_rows == "bos" and dataset.bos is None,
             "--empty-rows bos needs a BOS token (--bos)"),
            (c.device.startswith("cuda") and not torch.cuda.is_available(),
             "--device cuda: no CUDA device is available here"),
        ]
        for bad, message in problems:
            if bad:
                raise RaspValueError(message)
        return c


@dataclass
class Run:
    """A trained model, what it was trained on, and how it did."""

    model: Transformer
    dataset: Dataset
    config: TrainConfig
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    supervised: list[tuple[int, int, int]] = field(default_factory=list)  # (head k, layer, slot)
    interrupted: bool = False

    def predict(self, tokens: list) -> tuple[list, list[np.ndarray]]:
        """The model's output on one input (with the BOS if the data has one) and each
        layer's attention, (heads, n, n): TrainedModel.predict."""
        return self.trained.predict(tokens)

    @property
    def trained(self) -> TrainedModel:
        return TrainedModel(self.model, self.dataset.vocab, self.dataset.classes,
                            self.dataset.bos)

    def save(self, out: Path) -> None:
        """Write the run's files into `out`, each atomically: config.json, the manifest, is
        removed first and written last with the SHA-256 of the others, so that load_run
        knows them for one complete run. The caller owns the folder (train claims it)."""
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).unlink(missing_ok=True)
        with atomic(out / "model.pt", "wb") as f:
            torch.save({"model": self.model.config.to_json(),
                        "state_dict": self.model.state_dict(),
                        "vocab": [_plain(t) for t in self.dataset.vocab],
                        "classes": [_plain(c) for c in self.dataset.classes],
                        "bos": _plain(self.dataset.bos)}, f)
        write_atomic(out / "history.jsonl", "".join(json_text(r) + "\n" for r in self.history))
        write_atomic(out / "metrics.json", json_text(self.metrics, indent=1) + "\n")
        sums = {name: sha256(out / name) for name in RUN_FILES if name != MANIFEST}
        write_atomic(out / MANIFEST, json_text(self.describe() | {"files": sums}, indent=1,
                                                ensure_ascii=False, default=str) + "\n")

    def describe(self) -> dict:
        return {"train": asdict(self.config), "model": self.model.config.to_json(),
                "data": self.dataset.describe(),
                "supervised_heads": [self.dataset.heads[k].key for k, _, _ in self.supervised],
                "versions": {"rasp": __version__, "torch": torch.__version__,
                             "python": platform.python_version()},
                "environment": environment(self.config.threads, self.config.device)}


def load_run(folder: Path | str) -> Run:
    """A run written by `train(..., out=folder)`, from wherever it is loaded: its model,
    metrics and history, with its dataset made again from config.json (the same seed gives
    the same data) and the program it was trained on (runs.program_file: found again, and
    refused if it changed since). RaspValueError for a folder that does not hold one
    complete run: no config.json (the run did not end), or files that are not those
    config.json lists (a mix of runs). The model is loaded as weights only: a model.pt that
    asks to run code is refused."""
    folder = Path(folder)
    described = manifest(folder)
    trained = load_model(folder / "model.pt")
    try:
        d = described["data"]
        file = program_file(d, folder)
        dataset = make_dataset(file, d["name"], alphabet=d["alphabet"],
                               lengths=tuple(d["lengths"]), bos=d["bos"], sampler=d["sampler"],
                               seed=d["seed"], n_train=d["sizes"]["train"],
                               n_val=d["sizes"]["val"], n_test=d["sizes"]["test"],
                               test_lengths=_test_lengths(d), causal=d.get("causal", False))
        config = TrainConfig(**described["train"] | {"device": "cpu"})
        keys = described["supervised_heads"]
    except (KeyError, TypeError) as e:
        raise RaspValueError(f"{folder / MANIFEST}: not the config.json of a training run "
                             f"({type(e).__name__}: {e})") from None
    history = [json.loads(line) for line in
               (folder / "history.jsonl").read_text().split("\n") if line]
    run = Run(trained.model, dataset, config, history,
              json.loads((folder / "metrics.json").read_text()))
    run.supervised = [(k, h.layer - 1, h.head) for k, h in enumerate(dataset.heads)
                      if h.key in keys]
    return run


def _test_lengths(described: dict) -> tuple[int, int] | None:
    """The test lengths of a run's data: None where the test inputs were drawn with the
    training inputs (and in runs written before --test-lengths)."""
    test = described.get("test_lengths")
    return None if test is None else (test[0], test[1])


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (what a weights-only load reads back)."""
    return value.item() if isinstance(value, np.generic) else value


def _tensors(group: Group, device: str) -> tuple[torch.Tensor, ...]:
    return (torch.as_tensor(group.x, device=device), torch.as_tensor(group.y, device=device),
            torch.as_tensor(group.selections, device=device))


class _Objective:
    """The loss of one batch: cross-entropy on the scored positions, plus the attention loss
    of the supervised heads."""

    def __init__(self, run: Run):
        self.run, self.c = run, run.config
        self.first = run.dataset.first_scored
        self.cross_entropy = nn.CrossEntropyLoss(ignore_index=-1)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, sel: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        logits, attentions = self.run.model(x)
        scored = logits[:, self.first:]
        loss = self.cross_entropy(scored.reshape(-1, scored.shape[-1]),
                                  y[:, self.first:].reshape(-1))
        if not torch.isfinite(loss):  # every position scored -1: a batch of BOS only
            loss = logits.sum() * 0.0
        attention_loss = torch.zeros((), device=x.device)
        for k, layer, slot in self.run.supervised:
            attention_loss = attention_loss + self.head_loss(attentions[layer][:, slot], sel[k])
        if self.run.supervised:
            attention_loss = attention_loss / len(self.run.supervised)
        return loss, attention_loss, logits, attentions

    def head_loss(self, attention: torch.Tensor, selection: torch.Tensor) -> torch.Tensor:
        target = selection.float()
        live = target.sum(-1) > 0
        if self.c.empty_rows == "uniform":
            target = torch.where(live[..., None], target, torch.ones_like(target))
            live = torch.ones_like(live)
        elif self.c.empty_rows == "bos":
            parked = torch.zeros_like(target)
            parked[..., 0] = 1.0
            target = torch.where(live[..., None], target, parked)
            live = torch.ones_like(live)
        target = target / target.sum(-1, keepdim=True).clamp(min=1.0)
        rows = live.sum().clamp(min=1)
        if self.c.attention_loss == "mse":
            per_row = ((attention - target) ** 2).mean(-1)
        else:  # cross-entropy to the target distribution (KL up to a constant)
            per_row = -(target * torch.log(attention.clamp(min=1e-9))).sum(-1)
        return (per_row * live).sum() / rows


def _batches(split: Split, size: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """(group, indices) for every batch of an epoch, in random order; a batch is one length."""
    out = []
    for g, group in enumerate(split.groups):
        order = rng.permutation(len(group.inputs))
        out += [(g, order[i:i + size]) for i in range(0, len(order), size)]
    return [out[i] for i in rng.permutation(len(out))]


def _epoch_line(record: dict, epochs: int) -> str:
    """The start of a log's line for an epoch: what the bar shows at the epoch's end."""
    return (f"epoch {record['epoch']}/{epochs} loss {record['train_loss']:.4f} acc "
            f"{record['train_token_accuracy']:.3f}")


def _progress_bar(stream: Any, epoch: int, epochs: int) -> Callable[[int, int, float, float],
                                                                     None]:
    def show(done: int, total: int, loss: float, accuracy: float) -> None:
        filled = int(20 * done / total)
        stream.write(f"\repoch {epoch}/{epochs} [{'#' * filled}{'.' * (20 - filled)}] "
                     f"loss {loss:.4f} acc {accuracy:.3f}")
        stream.flush()
    return show


def train(dataset: Dataset, config: TrainConfig | None = None, out: Path | str | None = None,
          quiet: bool = False, stream: Any = None, force: bool = False, **options: Any) -> Run:
    """Train a model on the dataset; `options` are TrainConfig fields (layers=..., ...).
    With `out`, the run owns that folder while it trains (rasp.files.claim_folder: another
    run there at the same time is refused, FolderLockedError) and writes history.jsonl, one
    line an epoch, then model.pt, metrics.json and config.json there. A folder holding
    another run's files (plots/ included) is refused (FolderTakenError) unless `force`,
    which removes them first. On a terminal a bar per epoch shows the loss and accuracy
    (none with `quiet`). Ctrl-C stops the training; the best checkpoint so far is evaluated
    and kept. Torch uses `config.threads` CPU threads during the run, as many as before
    after it."""
    config = (config or TrainConfig(**options)).checked(dataset)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(dataset, config, out, quiet, stream, force)
    finally:
        torch.set_num_threads(threads)


def positions_needed(dataset: Dataset) -> int:
    """The positions a model of the dataset sees, the BOS included: its training and test
    lengths, which learned positions cover (sinusoids have no bound)."""
    return max(dataset.lengths[1], (dataset.test_lengths or dataset.lengths)[1]) \
        + dataset.first_scored


def _train(dataset: Dataset, config: TrainConfig, out: Path | str | None, quiet: bool,
           stream: Any, force: bool) -> Run:
    layers, heads, ff = config.size
    torch.manual_seed(config.seed)
    model = Transformer(ModelConfig(
        vocab=len(dataset.vocab), classes=max(len(dataset.classes), 1), layers=layers,
        heads=heads, d_model=config.d_model, ff=ff, positions=config.positions,
        max_length=positions_needed(dataset), dropout=config.dropout, causal=dataset.causal))
    model.to(config.device)
    run = Run(model, dataset, config)
    if config.supervise:
        run.supervised = [(k, h.layer - 1, h.head) for k, h in enumerate(dataset.heads)
                          if h.layer <= layers and h.head < heads]
    folder = Path(out) if out is not None else None
    if folder is None:
        _train_run(run, None, quiet, stream)
        return run
    with claim_folder(folder, "training run", (*RUN_FILES, PLOTS), MANIFEST, force=force):
        write_atomic(folder / "history.jsonl", "")
        _train_run(run, folder, quiet, stream)
        run.save(folder)
    return run


def _train_run(run: Run, folder: Path | None, quiet: bool, stream: Any) -> None:
    """Fit, then match the heads on the validation split and evaluate the best checkpoint on
    the test split."""
    stream = stream or sys.stderr
    bar = hasattr(stream, "isatty") and stream.isatty()
    try:
        stopped = _fit(run, folder, None if quiet else stream, bar)
    except KeyboardInterrupt:
        run.interrupted, stopped = True, "interrupted"
        if not quiet:
            stream.write("\ninterrupted: keeping the best checkpoint so far\n")
    run.metrics = evaluate(run, run.dataset.test, match_heads(run))
    kept = [r for r in run.history if r.get("best")][-1:]
    run.metrics["checkpoint"] = {"epochs": len(run.history), "stopped": stopped} | (
        {k: kept[0][k] for k in ("epoch", "val_loss", "val_attention_loss")} if kept else {})
    run.metrics["interrupted"] = run.interrupted


def _fit(run: Run, folder: Path | None, stream: Any, bar: bool) -> str:
    """Epochs of training and validation; the model ends with the best checkpoint's weights,
    however the loop ends (Ctrl-C too). On `stream`, a terminal (`bar`) sees a bar filling
    during each epoch, and a log (a file, a pipe) one line after each. Returns why it
    stopped: "epochs" (all done), "perfect" (validation accuracy 1) or "patience"."""
    c, model = run.config, run.model
    objective = _Objective(run)
    optimiser = torch.optim.Adam(model.parameters(), lr=c.lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=c.gamma)
    rng = np.random.default_rng(c.seed)
    groups = [_tensors(g, c.device) for g in run.dataset.train.groups]
    best, best_loss, perfect, started = None, float("inf"), 0, time.time()
    since_best, stopped = 0, "epochs"
    try:
        for epoch in range(1, c.epochs + 1):
            show = _progress_bar(stream, epoch, c.epochs) if stream and bar else None
            record = {"epoch": epoch, "lr": schedule.get_last_lr()[0]}
            record |= _train_epoch(run, objective, optimiser, groups, rng, show)
            schedule.step()
            val = evaluate(run, run.dataset.val)
            record |= {"val_loss": val["loss"], "val_attention_loss": val["attention_loss"],
                       "val_token_accuracy": val["token_accuracy"],
                       "val_sequence_accuracy": val["sequence_accuracy"],
                       "seconds": time.time() - started}
            since_best += 1
            if val["loss"] < best_loss:  # the task's loss only: see the module's text
                best, best_loss, since_best = copy.deepcopy(model.state_dict()), val["loss"], 0
                record["best"] = True
            run.history.append(record)
            if folder is not None:  # to follow the run; Run.save writes it again, whole
                with (folder / "history.jsonl").open("a", encoding="utf-8") as f:
                    f.write(json_text(record) + "\n")
            if stream is not None:
                stream.write(("" if bar else _epoch_line(record, c.epochs))
                             + f"  val loss {val['loss']:.4f} acc {val['token_accuracy']:.3f}\n")
                stream.flush()
            perfect = perfect + 1 if val["token_accuracy"] == 1.0 else 0
            if perfect >= STOP_AFTER_PERFECT:
                stopped = "perfect"
                break
            if c.patience is not None and since_best >= c.patience:
                stopped = "patience"
                break
    finally:
        if best is not None:
            model.load_state_dict(best)
    return stopped


def _train_epoch(run: Run, objective: _Objective, optimiser: torch.optim.Optimizer,
                 groups: list[tuple[torch.Tensor, ...]], rng: np.random.Generator,
                 show: Callable[[int, int, float, float], None] | None) -> dict:
    """One pass over the training data; the mean losses and the token accuracy."""
    c, first = run.config, objective.first
    run.model.train()
    batches = _batches(run.dataset.train, c.batch, rng)
    loss_sum = attention_sum = 0.0
    inputs = hits = scored = 0
    for done, (g, rows) in enumerate(batches, 1):
        where = torch.as_tensor(rows, device=c.device)
        x, y, sel = groups[g]
        x, y, sel = x[where], y[where], sel[:, where]
        loss, attention_loss, logits, _ = objective(x, y, sel)
        optimiser.zero_grad()
        (loss + c.weight * attention_loss).backward()
        optimiser.step()
        inputs += len(rows)
        loss_sum += loss.item() * len(rows)
        attention_sum += attention_loss.item() * len(rows)
        hits += int((logits[:, first:].argmax(-1) == y[:, first:]).sum().item())
        scored += y[:, first:].numel()
        if show is not None and (done % 10 == 0 or done == len(batches)):
            show(done, len(batches), loss_sum / inputs, hits / max(scored, 1))
    return {"train_loss": loss_sum / max(inputs, 1),
            "train_attention_loss": attention_sum / max(inputs, 1),
            "train_token_accuracy": hits / max(scored, 1)}


def evaluate(run: Run, split: Split, assignment: dict[int, int | None] | None = None
             ) -> dict:
    """Accuracy and losses on a split; with `assignment` ({program head: model slot}, as
    match_heads gives it), {"test": those, "attention": a report per assigned head}: its
    agreement with its selector, beside the trivial heads' on the same rows
    (metrics.corrected)."""
    if assignment is None:
        return _scan(run, split, [])[0]
    pairs = sorted((k, slot) for k, slot in assignment.items() if slot is not None)
    result, agreement, baseline = _scan(run, split, pairs, trivial=True)
    supervised = {k for k, _, _ in run.supervised}
    report = []
    for k, slot in pairs:
        trivial = {kind: baseline[(k, kind)].result() for kind in TRIVIAL_HEADS}
        report.append(run.dataset.heads[k].to_json()
                      | {"model_head": slot + 1, "supervised": k in supervised}
                      | corrected(agreement[(k, slot)].result(), trivial))
    return {"test": result, "attention": report}


def match_heads(run: Run) -> dict[int, int | None]:
    """Which model head answers for each program head (by index; None: none left): a
    supervised head its own slot; the others matched one to one with the other heads of
    their layer, least total variation to the selectors on the validation split (head
    order is arbitrary in an unsupervised model, and the test split must not choose)."""
    layers, slots, _ = run.config.size
    heads = run.dataset.heads
    out: dict[int, int | None] = {k: slot for k, _, slot in run.supervised}
    free = [k for k, h in enumerate(heads) if h.layer <= layers and k not in out]
    if not free:
        return out
    agreement = _scan(run, run.dataset.val, [(k, s) for k in free for s in range(slots)])[1]
    for layer in sorted({heads[k].layer for k in free}):
        rows = [k for k in free if heads[k].layer == layer]
        taken = {out[k] for k in out if heads[k].layer == layer}
        open_slots = [s for s in range(slots) if s not in taken]
        cost = np.array([[agreement[(k, s)].result()["tv"] for s in open_slots]
                         for k in rows]).reshape(len(rows), len(open_slots))
        for k, j in zip(rows, assign(cost)):
            out[k] = None if j is None else open_slots[j]
    return out


def _scan(run: Run, split: Split, pairs: list[tuple[int, int]], trivial: bool = False
          ) -> tuple[dict, dict[tuple[int, int], Agreement], dict[tuple[int, str], Agreement]]:
    """One pass of the model over a split: accuracy and losses; the agreement of each
    (program head, model slot) pair; with `trivial`, each trivial head's for those program
    heads."""
    c, model, dataset = run.config, run.model, run.dataset
    objective = _Objective(run)
    accuracy = Accuracy(dataset.first_scored)
    agreement = {pair: Agreement() for pair in pairs}
    baseline = {(k, kind): Agreement() for k in sorted({k for k, _ in pairs})
                for kind in (TRIVIAL_HEADS if trivial else ())}
    loss_sum = attention_sum = 0.0
    model.eval()
    with torch.no_grad():
        for group in split.groups:
            for (k, kind), agree in baseline.items():
                head = trivial_attention(kind, group.length, dataset.causal)
                agree.add(np.broadcast_to(head, group.selections[k].shape), group.selections[k])
            x, y, sel = _tensors(group, c.device)
            for start in range(0, len(group.inputs), 500):
                part = slice(start, start + 500)
                loss, attention_loss, logits, attentions = objective(x[part], y[part],
                                                                     sel[:, part])
                n = len(x[part])
                loss_sum += loss.item() * n
                attention_sum += attention_loss.item() * n
                accuracy.add(logits.argmax(-1).cpu().numpy(), group.y[part])
                for (k, slot), agree in agreement.items():
                    agree.add(attentions[dataset.heads[k].layer - 1][:, slot].cpu().numpy(),
                              group.selections[k, part])
    result: dict[str, Any] = accuracy.result()
    if dataset.test_lengths is not None:  # length generalisation: trained at, and beyond
        low, high = dataset.lengths
        result["trained_lengths"] = accuracy.within(low, high)
        result["longer"] = accuracy.within(high + 1, dataset.test_lengths[1])
    result |= {"loss": loss_sum / split.size, "attention_loss": attention_sum / split.size}
    return result, agreement, baseline
