"""The simulated vendor APIs the extraction syncs from: FPR's change feed and PayScore's screening groups.

FPR: ``app`` (routes), ``storage`` (its change log) and ``server`` (the ``finmatch-api`` command).
PayScore: ``payscore`` (routes, store and page drift) and ``payscore_server``
(``finmatch-payscore-api``). Shared: ``landed`` (snapshots of a landed change log, refreshed
incrementally), ``errors`` (JSON errors and the key check), ``faults`` (fault injection) and
``serving`` (the commands' common flags and uvicorn). Kept import-light: importing the package
does not load FastAPI or pyarrow.
"""
