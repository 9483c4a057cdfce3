#!/usr/bin/env bash
# Run the benchmarks with tracr installed beside rasp, in bench/.venv (not in the project's
# own dependencies). tracr's evaluator needs only numpy, absl and networkx; its package
# metadata asks for jax too, hence --no-deps.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -e "$here/.."
    "$venv/bin/pip" install --quiet --no-deps tracr-pypi
    "$venv/bin/pip" install --quiet absl-py networkx
fi
exec "$venv/bin/python" "$here/bench.py" "$@"
