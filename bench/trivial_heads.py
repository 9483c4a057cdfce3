"""What heads that ignore the input score against the seven tasks' selectors, from the data
alone (no training): per program head, the attention scores (mass / argmax /
tv, docs/training.md) of the trivial heads on the test inputs of bench/paper_s5.py's
protocol. A learned head's raw scores mean something only above these.

    python bench/trivial_heads.py            # the table of docs/training.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paper_s5 import PAPER, TASKS  # noqa: E402  (bench/ is the script's folder)

from rasp.train import make_dataset  # noqa: E402
from rasp.train.metrics import TRIVIAL_HEADS, Agreement, trivial_attention  # noqa: E402


def scores(task: str) -> list[tuple[str, dict[str, dict]]]:
    """Per program head of the task: its key and each trivial head's scores on the test
    split (1,000 inputs of lengths 1 to 16, data seed 0)."""
    name, alphabet, bos, sampler = TASKS[task][:4]
    data = make_dataset(PAPER, name, alphabet=alphabet, lengths=(1, 16), bos=bos,
                        sampler=sampler, n_train=10_000, n_val=500, n_test=1000)
    out = []
    for k, head in enumerate(data.heads):
        agree = {kind: Agreement() for kind in TRIVIAL_HEADS}
        for group in data.test.groups:
            sel = group.selections[k]
            for kind, a in agree.items():
                a.add(np.broadcast_to(trivial_attention(kind, group.length), sel.shape), sel)
        out.append((head.key, {kind: a.result() for kind, a in agree.items()}))
    return out


def main() -> int:
    print("| task | head | " + " | ".join(f"{kind}: mass / argmax / tv" for kind in
                                        TRIVIAL_HEADS) + " |")
    print("| --- | --- |" + " --- |" * len(TRIVIAL_HEADS))
    for task in TASKS:
        for key, result in scores(task):
            cells = [" / ".join(f"{result[kind][s]:.2f}" for s in ("mass", "argmax", "tv"))
                     for kind in TRIVIAL_HEADS]
            print(f"| {task} | {key} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
