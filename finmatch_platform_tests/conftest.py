"""Each layer's folder registers the fixtures it needs in its own conftest.py (from ``helpers/``),
so a unit test of ``lib/`` never loads the live platform's or the browser's fixtures."""
