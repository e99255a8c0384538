# Two entry points for a fresh machine: `make demo` and `make test` (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench bench-ci clean

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/distillguard demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy

# DistillBench on `small`: calibrated on seed 1, reported on seed 2 (docs/distillbench.md).
BENCH_OUT ?= out/bench
bench: $(STAMP)
	$(BIN)/distillguard bench --scenario small --calibration-seed 1 --seed 2 --out $(BENCH_OUT)

# The CI bench: no tracemalloc (peak RSS is still measured), then check what it wrote.
bench-ci: $(STAMP)
	rm -f out/ci-bench/results.json out/ci-bench/report.md out/ci-bench/report.html
	$(BIN)/distillguard bench --scenario small --calibration-seed 1 --seed 2 \
		--out out/ci-bench --no-trace-memory
	$(BIN)/python scripts/check_bench.py out/ci-bench

clean:
	rm -rf $(VENV) .dg-data out/bench out/ci-bench
