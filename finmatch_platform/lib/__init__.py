"""Pure Python building blocks: no Dagster import anywhere under this package."""
