# Two set-up commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: demo test bench fuzz lint clean install install-dev

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install -q -e '.[web]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install -q -e '.[dev,explore,ray,web,onnx,torch]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/hetsim demo --out out --force

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest

# the hostile-input harnesses, long (docs/testing.md): 100,000 CLI command lines and 100,000
# mutated files, 33,000 explore specs/queries/damaged stores, 20,000 dashboard requests
fuzz: install-dev
	$(BIN)/pytest tests/cli/test_fuzz.py tests/explore/test_fuzz_explore.py tests/web/test_fuzz_web.py \
		tests/serving/test_fuzz_serve.py tests/serving/test_serve_fuzz.py --long -x -rs

bench: install-dev
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) out .mypy_cache .pytest_cache .ruff_cache .hypothesis
