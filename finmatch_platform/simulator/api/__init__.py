"""The FPR API server: the vendor change feed the extraction syncs from.

``app`` (routes and errors), ``storage`` (snapshots of the landing-zone change log), ``faults``
(fault injection) and ``server`` (the ``finmatch-api`` command). Kept import-light: importing the
package does not load FastAPI or pyarrow.
"""
