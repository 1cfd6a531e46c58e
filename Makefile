# The README's two quick-start commands are `make sample` and `make test`;
# .ci/run runs `make test` on a clean clone. Each target sets up its own venv.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: sample test bench-exact

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"

sample: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	$(BIN)/demem run --input examples/sample.jsonl --config examples/default.yaml --output runs/sample --overwrite

test: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,audit]'
	$(BIN)/pytest

bench-exact: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[bench]'
	bash ../shared/bench/get_corpus.sh
	$(BIN)/python benchmarks/bench_end_to_end.py
