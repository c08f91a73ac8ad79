PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test test-remote lint bench bench-remote soak screenshots setup images venv clean

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

# the remote-engine tests alone (make test runs them too)
test-remote: venv setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m remote $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check devrun tests bench
	$(BIN)/ruff format --check devrun tests bench

bench: venv setup
	$(BIN)/python -m bench $(BENCH_ARGS)

# devrun against compose watch on a remote engine over a shaped link (the remote-engine bed)
bench-remote: venv setup
	$(BIN)/python -m bench.remote $(BENCH_ARGS)

# the model-based consistency test, longer than in `make test`: more seeds, longer sequences
SOAK_SEEDS ?= 1,2,3,4,5,6,7,8
SOAK_STEPS ?= 30
soak: venv setup
	DEVRUN_MODEL_SEEDS=$(SOAK_SEEDS) DEVRUN_MODEL_STEPS=$(SOAK_STEPS) \
	  $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/test_model_consistency.py

# the README's pictures, taken by the tests that drive the dashboard and the terminal
screenshots: venv setup
	DEVRUN_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_dashboard.py

clean:
	rm -rf $(VENV) build dist *.egg-info
