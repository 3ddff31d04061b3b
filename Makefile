# Two set-up commands: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# The README's first commands: train on the bundled digits (written as CSV files
# next to the model), then evaluate the model on the held-out file.
demo: $(VENV)/.installed
	mkdir -p demo
	cd demo && ../$(VENV)/bin/xentlearn train
	cd demo && ../$(VENV)/bin/xentlearn evaluate model.xent model-digits/valid.csv

test: $(VENV)/.installed-test
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n 2 --dist loadfile

$(VENV)/.installed-bench: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@ $(VENV)/.installed-test $(VENV)/.installed

# The peers of bench/run.py's "fastest" task (scikit-learn-intelex, glum) are the
# optional extra "bench".
bench: $(VENV)/.installed-bench
	$(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) demo build *.egg-info src/*.egg-info .pytest_cache .hypothesis
