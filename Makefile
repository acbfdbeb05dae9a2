# Two commands on a fresh machine:  `make train` (train on the embedded digits set)  and  `make test`.
# Each creates .venv from nothing on first use and installs the pinned versions.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup train test bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

train: $(STAMP)
	$(BIN)/ganlab-train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/ganlab-bench $(ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache
