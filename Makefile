# The project's commands. `make demo` and `make test` install the pinned environment first if needed.
# The first supported interpreter present (3.11 is the main one; the lock installs on 3.12 and 3.13 too).
# (Each is run once: a pyenv shim of a version that is not selected is on PATH but exits 127.)
PYTHON ?= $(firstword $(foreach v,3.11 3.12 3.13,$(shell python$(v) -c 'import sys' 2>/dev/null && echo python$(v))) python3.11)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock

.PHONY: install demo celery-demo bench test test-unit test-matrix lint airflow lock clean

install: $(STAMP)

# uv installs the lock in about 15 s where pip took about 4 minutes (same 248 packages, same versions); pip only
# bootstraps uv itself, pinned here because it is the installer, not part of the environment.
UV_PIN := uv==0.13.8
# Then bytecode, as pip compiles at install and uv does not: where PYTHONDONTWRITEBYTECODE is set (this machine),
# every task process would otherwise compile Airflow, pandas and scikit-learn again (about 15 s of CPU each).
# Test suites and packages no task imports are skipped (30 s instead of 44 s for all).
NO_BYTECODE := /(tests?|testing|sympy|networkx|mypy|mypyc|pip|setuptools|libcst|fontTools|pygments)/

$(STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(UV_PIN)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/python -m compileall -q -j 0 -x '$(NO_BYTECODE)' $(VENV)/lib > /dev/null
	touch $(STAMP)

## One end-to-end run of the DAG against a local S3/SNS server (moto); last line: RESULT ...
demo: install
	$(BIN)/python -m devtools.demo $(DEMO_ARGS)

## The docker-compose topology without Docker: CeleryExecutor with two workers, PostgreSQL, Redis (apt-installed
## if missing, root only), all private and on free ports; one run through the REST API; last line: CELERY_DEMO ...
celery-demo: install
	$(BIN)/python -m devtools.celery_demo $(CELERY_DEMO_ARGS)

## The DAG against the bare pipeline (3 runs each), and 1x/4x/16x scaling; table on stdout, figures in
## out/bench/results.json. BENCH_ARGS passes options, e.g. BENCH_ARGS="--repeats 5 --profile".
bench: install
	$(BIN)/python -m devtools.bench $(BENCH_ARGS)

## The whole test suite: unit, DAG integrity and end-to-end against the local server, on 2 pytest-xdist workers.
# --dist loadscope runs each test module whole on one worker (module fixtures chain DAG runs), with the modules
# that share one `airflow standalone` grouped and the longest started first (tests/conftest.py). Two workers,
# not more: the suite is CPU-bound on 2 cores, and a third worker only made the servers miss their timeouts.
# PYTEST_ARGS passes more, e.g. PYTEST_ARGS="-k faults"; XDIST= runs in one process.
# pytest's exit code 5 (no test collected) is a failure too, and says so.
XDIST ?= -n 2 --dist loadscope
test: install
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS); rc=$$?; [ $$rc -ne 5 ] || echo "make test: no tests were collected"; exit $$rc

## Unit tests and DAG integrity only: no server, no DAG run; on the same xdist workers as `test` (56 s here).
test-unit: install
	$(BIN)/python -m pytest $(XDIST) tests/unit tests/dags $(PYTEST_ARGS); rc=$$?; [ $$rc -ne 5 ] || echo "make test-unit: no tests were collected"; exit $$rc

## The DAG-integrity tests and one end-to-end training run on the other supported combinations: Python 3.12 and
## 3.13 with requirements.lock, Python 3.11 with Airflow 3.2 (requirements-airflow-3.2.lock), each in its own venv
## (devtools/matrix.py); MATRIX_ARGS="--require" fails when an interpreter is missing.
test-matrix: install
	$(BIN)/python -m devtools.matrix --no-bytecode '$(NO_BYTECODE)' $(MATRIX_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Airflow's UI (airflow standalone) wired to a seeded local S3/SNS server, for the trigger form. Ctrl-C stops it
## and everything it started (devtools/processes.py); AIRFLOW_ARGS="--port 8081" and the like pass options.
airflow: install
	$(BIN)/python -m devtools.standalone $(AIRFLOW_ARGS)

## Re-pin requirements.lock from requirements-dev.in (which includes the runtime requirements.in) in a scratch venv,
## then requirements-airflow-3.2.lock: the same with requirements-airflow-3.2.txt's overrides, resolved by uv
## starting from requirements.lock's versions (so it differs only where Airflow 3.2 needs it to).
lock: install
	rm -rf /tmp/bank-ml-lock && $(PYTHON) -m venv /tmp/bank-ml-lock
	/tmp/bank-ml-lock/bin/pip install --quiet -r requirements-dev.in
	{ echo "# Pinned environment of the project: requirements-dev.in (which includes requirements.in) frozen on Python 3.11,"; \
	  echo "# Linux x86_64. Regenerate with: make lock"; /tmp/bank-ml-lock/bin/pip freeze; } > requirements.lock
	cp requirements.lock requirements-airflow-3.2.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 --no-header requirements-dev.in \
	  --override requirements-airflow-3.2.txt -o requirements-airflow-3.2.lock
	sed -i '1i # Airflow 3.2 environment of make test-matrix: see requirements-airflow-3.2.txt. Regenerate with: make lock' \
	  requirements-airflow-3.2.lock

clean:
	rm -rf $(VENV) .venv-3.* .airflow .pytest_cache .ruff_cache
