"""Airflow's local-settings hook (``$AIRFLOW_HOME/config/airflow_local_settings.py``), read by every Airflow
process when it starts: here it preloads the libraries the training DAG's tasks import.

Under the LocalExecutor and the CeleryExecutor every task runs in a process forked from a long-lived one
(the scheduler's executor workers, a Celery worker's pool), which inherits whatever that process imported.
Without this, each task imports pandas, pyarrow, scikit-learn and matplotlib anew: about 2.5 s of CPU per
task, most of a small task's run time (measured here: a run of the DAG on the stratified sample under
``airflow standalone`` took 41 s, and 26 s with this file). Each Airflow process pays the imports once
instead, a few seconds at its start. It does nothing for the KubernetesExecutor, where every task is a new pod.

Only in the processes tasks are forked from (the scheduler, whose LocalExecutor workers fork the tasks, and
a Celery worker): the API server, DAG processor and triggerer run no task and would only start slower. Only
imports: nothing here may start threads or open connections before a fork. A library missing from an image
(e.g. a scheduler image without scikit-learn) is skipped, never an error.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys

PRELOAD = (
    "pandas",
    "pyarrow.parquet",
    "joblib",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "matplotlib.figure",
    "matplotlib.style",
    "matplotlib.backends.backend_agg",
)

# Airflow copies every name this module exports into airflow.settings (that is how local settings override
# it): this one overrides nothing.
__all__: list[str] = []

# `airflow <command> ...`: the commands whose process tasks are forked from.
TASK_PARENTS = (["scheduler"], ["celery", "worker"])


def forks_tasks(argv: list[str]) -> bool:
    """Whether the Airflow command in ``argv`` is one that tasks are forked from."""
    return any(argv[1 : 1 + len(command)] == command for command in TASK_PARENTS)


def warm_inspect_cache() -> None:
    """Fill ``inspect``'s file-to-module map for every module imported so far, so forked tasks inherit it.

    Each time a task builds a boto3 client through an Amazon provider hook, the hook names its caller for the
    user agent with ``inspect.stack()``, whose first call in a process maps every loaded module to its file
    (a ``realpath`` each): 0.2-0.3 s of CPU per fresh task process with the libraries above loaded, 0.006 s
    once the parent has done it (measured here), and 6 of a run's 30 task CPU seconds under ``airflow
    standalone``. Stdlib only; nothing is imported. Best effort, like the imports above: a module it cannot map
    must not keep the scheduler from starting (the hooks catch the same errors themselves).
    """
    with contextlib.suppress(Exception):
        inspect.getmodule(sys._getframe())


if forks_tasks(sys.argv):
    for _name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(_name)
    warm_inspect_cache()
