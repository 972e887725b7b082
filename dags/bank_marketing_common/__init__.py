"""Airflow pieces both DAGs share: the AWS connection, the sensor, callbacks, task defaults and Params.

A package in the DAG folder (Airflow puts that folder on ``sys.path``; ``.airflowignore`` keeps the DAG
processor from parsing it as DAG files). The logic lives in ``include/bank_marketing/``, which has no
Airflow imports; this package only adapts it to Airflow. Light at import time: no pandas or scikit-learn.
"""
