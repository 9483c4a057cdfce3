"""Train transformers to follow a RASP program (the paper's §5).

    from rasp.train import load_program, make_dataset, train
    program = load_program("examples/paper_examples.rasp", "reverse")
    data = make_dataset(program, alphabet="abcdefgh", lengths=(1, 16))
    run = train(data, epochs=20, supervise=True, out="runs/reverse")
    run.metrics["test"]["token_accuracy"]
    model = load_model("runs/reverse/model.pt")  # the file alone
    output, attention = model.predict(list("abc"))

Datasets need only numpy; `train` needs PyTorch and matplotlib (TORCH_MISSING says how to
install them).
"""

from __future__ import annotations

from typing import Any

from .data import Dataset, make_dataset
from .program import Program, load_program

__all__ = ["Dataset", "Program", "load_model", "load_program", "make_dataset", "missing_extra",
           "train", "TORCH_MISSING"]

# what works wherever rasp came from (a wheel, a checkout), and the checkout's extra: no
# package index serves rasp-lang, so the extra by that name would fail
TORCH_MISSING = ("training needs PyTorch and matplotlib: pip install torch matplotlib (in a "
                 "checkout of rasp: pip install '.[train]')")


def missing_extra() -> str | None:
    """The install hint when PyTorch cannot be imported."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return TORCH_MISSING
    return None


def train(*args: Any, **kwargs: Any) -> Any:
    """rasp.train.loop.train, imported on first use so that datasets work without torch."""
    from .loop import train as train_loop

    return train_loop(*args, **kwargs)


def load_model(path: Any) -> Any:
    """rasp.train.model.load_model: a run's model.pt alone, with `predict(tokens)`."""
    from .model import load_model as load

    return load(path)
