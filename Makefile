# Entry points: `make run` (the pipeline on the embedded default) and `make test` (the whole suite).
# Both create .venv on first use from requirements.lock; nothing else needs to be installed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CONF ?= conf/local.yaml,conf/datasets/movielens_100k.yaml
START ?=
END ?=

.PHONY: setup run test lint lock bench clean-lake

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: setup
	$(PY) -m jobs.backfill --conf $(CONF) $(if $(START),--start $(START)) $(if $(END),--end $(END))

lint: setup
	$(PY) -m flake8
	$(PY) -m isort --check-only --diff .

test: lint
	$(PY) -m pytest

bench: setup
	$(PY) -m bench.run_all

# Re-resolve the pinned set from requirements.in into requirements.lock.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip freeze --exclude-editable | sort > requirements.lock
	rm -rf .lock-venv

clean-lake:
	rm -rf lake
