"""Dagster resources: each validates its configuration (pydantic ``Field`` ranges) when it is made.

The definitions builder makes them from the settings it read once (``definitions.build_resources``),
and their values are the deployment's: no run's config can change them (``deployment.py``).
"""
