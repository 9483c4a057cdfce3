"""The `slow` compiler checks (max_len 100) run with `-m slow` or RASP_SLOW=1."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RASP_SLOW") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or RASP_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
