"""Development tooling, run as modules from the repository root: ``python -m devtools.demo`` (``make demo``),
``devtools.standalone`` (``make airflow``), ``devtools.celery_demo`` (``make celery-demo``), ``devtools.bench``
(``make bench``) and ``devtools.lab_baseline``; ``local_aws`` and ``airflow_api`` are the libraries they and the
end-to-end tests share."""
