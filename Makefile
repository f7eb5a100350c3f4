# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test check install lint bench notebooks

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/iclv-jax demo

# lint, format and type checks first: `make test` fails fast on any of them
check: $(STAMP)
	$(VENV)/bin/ruff check iclv_jax tests benchmarks
	$(VENV)/bin/ruff format --check iclv_jax tests benchmarks
	$(VENV)/bin/mypy iclv_jax

test: check
	$(VENV)/bin/python -m pytest -q -n 2 --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check iclv_jax tests benchmarks

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/loglike_speed.py

# write the notebooks from notebooks/make_notebooks.py, run them (full size; NOTEBOOKS_SMALL=1
# for the test suite's sizes) into notebooks/executed/, fail on a warning, error or NaN SE
notebooks: $(STAMP)
	$(VENV)/bin/python notebooks/make_notebooks.py
	$(VENV)/bin/python notebooks/execute_notebooks.py $(if $(NOTEBOOKS_SMALL),--small)
