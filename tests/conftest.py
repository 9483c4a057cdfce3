import os
import sys
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Property tests: CI runs a fixed, modest number of examples with a fixed seed, so that a
# failure reproduces and the suite stays fast; `HYPOTHESIS_PROFILE=long` runs many more, with
# fresh randomness, for a local hunt. Evaluations vary a lot in time, so there is no deadline.
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True,
                          print_blob=True)
settings.register_profile("long", max_examples=20_000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite the expected transcripts of tests/golden and examples/")
