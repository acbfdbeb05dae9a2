# Two commands on a fresh machine:  `make train` (train on the embedded digits set)  and  `make test`.
# Each creates .venv from nothing on first use and installs the pinned versions, with the [launchers]
# extra (joblib, submitit, Optuna), which `make test` exercises for real. hydra-core and omegaconf stay
# pinned (1.3.8, 2.3.1) in the same pip command, so no plugin can move them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup train test bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev,launchers]' 'hydra-core==1.3.8' 'omegaconf>=2.3,<2.4'
	touch $(STAMP)

setup: $(STAMP)

train: $(STAMP)
	$(BIN)/ganlab-train $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest tests -n auto --dist loadfile --durations=15   # one worker per core, one thread each (tests/conftest.py)

bench: $(STAMP)   # make bench ARGS=recipes | make bench ARGS=data | make bench ARGS=step (ARGS="step --recipes dcgan_digits --steps 50")
	$(BIN)/ganlab-bench $(ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache
