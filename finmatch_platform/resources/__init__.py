"""Typed resources: the one place the environment is read.

Kept import-light on purpose: the API server imports settings without paying for Dagster.
"""
