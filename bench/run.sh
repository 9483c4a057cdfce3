#!/usr/bin/env bash
# Run the benchmarks with tracr installed beside rasp, in bench/.venv (not in the project's
# own dependencies). tracr's evaluator needs only numpy, absl, networkx and typing_extensions;
# its package metadata asks for jax too, hence --no-deps (so typing_extensions, which it
# imports but does not declare, is installed by name, also into a .venv made before).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -e "$here/.."
    "$venv/bin/pip" install --quiet --no-deps tracr-pypi
    "$venv/bin/pip" install --quiet absl-py networkx
fi
"$venv/bin/python" -c "import typing_extensions" 2>/dev/null ||
    "$venv/bin/pip" install --quiet typing_extensions
exec "$venv/bin/python" "$here/bench.py" "$@"
