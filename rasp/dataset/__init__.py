"""Datasets from RASP programs at any scale: Parquet shards, generated in one process or on a
Dask cluster (`rasp dataset ... --format parquet [--workers N | --scheduler ADDRESS]`).

    from rasp.dataset import Options, generate
    from rasp.train import load_program
    program = load_program("examples/paper_examples.rasp", "reverse")
    generate(program, Options(alphabet=list("abcdefgh"), lengths=(1, 64),
                              counts={"train": 100_000, "val": 1000, "test": 1000}),
             Path("data/reverse"), workers=2)

The only package of rasp that imports pyarrow and dask, and only when a run starts
(SCALE_MISSING says how to install them).
"""

from __future__ import annotations

from .driver import DatasetError, Options, generate
from .plan import plan, split_of
from .shard import unpack_bits

__all__ = ["SCALE_MISSING", "DatasetError", "Options", "generate", "plan", "split_of",
           "unpack_bits", "missing_extra"]

# what works wherever rasp came from, and the checkout's extra (no index serves rasp-lang)
SCALE_MISSING = ("Parquet datasets and Dask need pyarrow and dask: pip install "
                 "'dask[distributed]' pyarrow pandas (in a checkout of rasp: pip install "
                 "'.[scale]')")


def missing_extra(cluster: bool) -> str | None:
    """The install hint when pyarrow (and, with `cluster`, dask.distributed) cannot be
    imported."""
    try:
        import pyarrow  # type: ignore[import-untyped]  # noqa: F401
        import pyarrow.parquet  # type: ignore[import-untyped]  # noqa: F401

        if cluster:
            import dask.distributed  # noqa: F401
    except ImportError:
        return SCALE_MISSING
    return None
