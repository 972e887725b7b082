# The project's commands. `make demo` and `make test` install the pinned environment first if needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock

.PHONY: install demo celery-demo bench test lint airflow lock clean

install: $(STAMP)

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $(STAMP)

## One end-to-end run of the DAG against a local S3/SNS server (moto); last line: RESULT ...
demo: install
	$(BIN)/python scripts/demo.py

## The docker-compose topology without Docker: CeleryExecutor with two workers, PostgreSQL, Redis (apt-installed
## if missing, root only), all private and on free ports; one run through the REST API; last line: CELERY_DEMO ...
celery-demo: install
	$(BIN)/python scripts/celery_demo.py

## The DAG against the bare pipeline (3 runs each), and 1x/4x/16x scaling; table on stdout, figures in
## out/bench/results.json. BENCH_ARGS passes options, e.g. BENCH_ARGS="--repeats 5 --profile".
bench: install
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

## The whole test suite: unit, DAG integrity and end-to-end against the local server.
# pytest's exit code 5 (no test collected) is a failure too, and says so.
test: install
	$(BIN)/python -m pytest; rc=$$?; [ $$rc -ne 5 ] || echo "make test: no tests were collected"; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Airflow's UI (airflow standalone) wired to a seeded local S3/SNS server, for the trigger form.
airflow: install
	$(BIN)/python scripts/standalone.py

## Re-pin requirements.lock from requirements.in in a scratch venv.
lock:
	rm -rf /tmp/bank-ml-lock && $(PYTHON) -m venv /tmp/bank-ml-lock
	/tmp/bank-ml-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Pinned environment of the project (pip freeze of requirements.in on Python 3.11, Linux x86_64)."; \
	  echo "# Regenerate with: make lock"; /tmp/bank-ml-lock/bin/pip freeze; } > requirements.lock

clean:
	rm -rf $(VENV) .airflow .pytest_cache .ruff_cache
