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

# Ctrl-C is how the demo ends: devrun stops the containers and exits 130; the
# trap keeps the recipe's shell alive to say so instead of make's "Error 130"
demo: venv setup
	@echo "demo: devrun up in examples/python-web; curl localhost:8000/, edit src/handler.py, Ctrl-C to stop"
	@cd examples/python-web && trap : INT && $(abspath $(BIN))/devrun up; rc=$$?; \
	  if [ $$rc -eq 130 ]; then echo "demo: stopped (containers stopped; devrun down removes them)"; exit 0; fi; exit $$rc

test: venv setup
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check devrun tests bench
	$(BIN)/ruff format --check devrun tests bench

bench: venv setup
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
