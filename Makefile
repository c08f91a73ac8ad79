PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test lint bench setup images venv clean

$(BIN)/devrun: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/devrun

venv: $(BIN)/devrun

setup:
	./scripts/setup.sh

images:
	./scripts/offline-images.sh

demo: venv setup
	cd examples/python-web && $(abspath $(BIN))/devrun up

test: venv setup
	$(BIN)/python -m pytest -q -x -p no:cacheprovider $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check devrun tests bench
	$(BIN)/ruff format --check devrun tests bench

bench: venv setup
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
