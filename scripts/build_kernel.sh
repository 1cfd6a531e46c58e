#!/usr/bin/env bash
# Compile one Cython kernel in place, with the same directives as setup.py,
# for quick iteration on a single .pyx. `pip install -e .` builds them all.
#   usage: scripts/build_kernel.sh dedup/_minhash.pyx
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
cd "$here"
CFLAGS="-O3 ${CFLAGS:-}" "$py" -m cython.Build.Cythonize -i -3 \
  -X boundscheck=False -X wraparound=False -X cdivision=True -X initializedcheck=False "$@" 2>/dev/null \
|| CFLAGS="-O3 ${CFLAGS:-}" "$(dirname "$py")/cythonize" -i -3 \
  -X boundscheck=False -X wraparound=False -X cdivision=True -X initializedcheck=False "$@"
