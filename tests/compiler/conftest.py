"""The `slow` compiler checks (max_len 100) run with `-m slow` or RASP_SLOW=1.

The forward passes are many small matrix products: OpenBLAS's threads only fight over a
shared machine's cores there (30 times slower measured on two busy cores), so these tests
ask for one thread, if numpy is not loaded yet."""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RASP_SLOW") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or RASP_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def node():
    """The graph node of a RASP expression, after the given definitions: the passes' tests
    build their small graphs in RASP, as a user would, and hand them to one pass alone."""
    from rasp import Interpreter

    it = Interpreter(warn=lambda text: None)

    def value(expression: str, source: str = ""):
        if source:
            it.run(source, "<pass test>")
        return it.value(expression)

    return value
