# Entry points: `make run` (the pipeline on the embedded default) and `make test` (the whole suite).
# Both create .venv on first use from requirements.lock; nothing else needs to be installed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CONF ?= conf/local.yaml,conf/datasets/movielens_100k.yaml
START ?=
END ?=
# make run: the daily DAG for one day (its history is built first if missing): DAY, else the last day of the
# config's run range (ops.check_conf --run-day; for MovieLens 100k 1998-04-22).
DAY ?=
RUN_DAY = $(or $(DAY),$(shell $(PY) -m ops.check_conf --conf $(CONF) --run-day))
SPARK_MASTER ?= local[*]
# make airflow-backfill gives up waiting for the runs after this many seconds (they keep their state; re-run to resume).
BACKFILL_TIMEOUT ?= 14400
# Airflow on its embedded SQLite DB inside the repo; the DAG reads DAILYREC_CONF, the master comes from the connection.
AIRFLOW_HOME ?= $(CURDIR)/.airflow
AIRFLOW := env AIRFLOW_HOME=$(AIRFLOW_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__PARALLELISM=2 DAILYREC_CONF=$(CONF) \
	AIRFLOW_CONN_DAILYREC_SPARK='{"conn_type": "spark", "host": "$(SPARK_MASTER)"}' \
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH

.PHONY: setup run check-conf backfill airflow-db airflow-backfill package test test-fast lint lock bench clean-lake

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: setup airflow-db
	$(PY) -m ops.check_conf --conf $(CONF) > /dev/null
	$(PY) -m ops.prepare --conf $(CONF)
	$(eval RUN_DAY := $(RUN_DAY))
	$(PY) -m ops.history --ds $(RUN_DAY) --conf $(CONF)
	@echo "airflow dags test --use-executor dailyrec $(RUN_DAY): log in $(AIRFLOW_HOME)/dags-test-$(RUN_DAY).log"
	$(AIRFLOW) $(PY) -m ops.dag_day --ds $(RUN_DAY)
	$(AIRFLOW) $(PY) -m ops.summary --ds $(RUN_DAY) --conf $(CONF)

# Check a config overlay and show what it makes of the dataset (files, days, lake, features), without Spark.
check-conf: setup
	$(PY) -m ops.check_conf --conf $(CONF)

# The range runner: every Spark day job for START..END (default: the config's run range) in one Spark session;
# WITH_MODELS=1 also trains and gates every ranker on each day, as the DAG does.
backfill: setup
	$(PY) -m jobs.backfill --conf $(CONF) $(if $(START),--start $(START)) $(if $(END),--end $(END)) \
		$(if $(WITH_MODELS),--with-models)

airflow-db: setup
	@mkdir -p $(AIRFLOW_HOME)
	$(AIRFLOW) $(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 \
		|| (tail -20 $(AIRFLOW_HOME)/db-migrate.log; exit 1)

# A backfill through Airflow itself: Airflow 3 backfills are run by the scheduler, so one is started for the
# length of the backfill (after `airflow dags reserialize` has serialised the DAG for it), then stopped.
airflow-backfill: airflow-db
	test -n "$(START)" -a -n "$(END)" || (echo "usage: make airflow-backfill START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2)
	$(AIRFLOW) $(PY) -m ops.airflow_backfill --dag-id dailyrec --start $(START) --end $(END) \
		--timeout $(BACKFILL_TIMEOUT)

# The project's modules as one zip for executors without the project installed (DAILYREC_PY_FILES: it reaches
# the executors' PYTHONPATH through spark.executorEnv, see core.spark).
package: setup
	$(PY) -m ops.package

lint: setup
	$(PY) -m flake8
	$(PY) -m isort --check-only --diff .

# Two workers (pytest-xdist, work stealing): the two long DAG tests start at once, one on each, and the rest of the
# suite fills in around them. ops.prepare first fetches MovieLens and resolves the Delta jars once, for both.
test: lint
	$(PY) -m ops.prepare --conf conf/local.yaml,conf/datasets/movielens_100k.yaml  # what the tests use, whatever CONF is
	$(PY) -m pytest -n 2 --dist worksteal

# The fast tier, for the edit-test loop: every test not marked slow (pure transforms, blocks, config, small Spark
# frames in one session a worker); `make test` runs these and the slow ones.
test-fast: lint
	$(PY) -m ops.prepare --conf conf/local.yaml,conf/datasets/movielens_100k.yaml
	$(PY) -m pytest -n 2 --dist worksteal -m "not slow"

bench: setup
	$(PY) -m bench.run_all

# Re-resolve the pinned set from requirements.in into requirements.lock.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip freeze --exclude-editable | sort > requirements.lock
	rm -rf .lock-venv

# CONF's lake with what belongs to it, and no other dataset's: the forests and candidates under its artifacts are of
# its days, and the versions under its exports are the ones its model_registry recorded.
clean-lake: setup
	roots="$$($(PY) -m ops.check_conf --conf $(CONF) --roots)" && printf "%s\n" "$$roots" | xargs -d "\n" rm -rf
