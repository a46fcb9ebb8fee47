"""Core fixtures: a temporary data directory with its landing zone and warehouse."""
