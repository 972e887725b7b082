"""Helpers of the test suite that are not fixtures: data samplers and the in-process DAG-run helper."""
