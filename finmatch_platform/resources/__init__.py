"""Dagster resources: each validates its configuration (pydantic ``Field`` ranges) when it is made.

The definitions builder makes them from the settings it read once (``definitions.build_resources``).
"""
