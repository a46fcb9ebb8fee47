"""The connector engine: one engine, a declaration per REST source (see ``declaration.py``)."""
