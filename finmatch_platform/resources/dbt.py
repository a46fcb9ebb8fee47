"""The dbt project and the dbt CLI resource that runs it against the warehouse.

The project is described once (``dbt_project()``) and its manifest is produced locally by
``dbt parse`` (no network, no hub packages) the first time ``dbt_manifest()`` is asked for it,
which only the dbt asset factory does: importing a module never parses. The CLI resource hands
dbt the warehouse path through ``FINMATCH_WAREHOUSE_PATH``, the variable ``dbt/profiles.yml``
reads, so Dagster runs and a ``dbt build`` in a shell write the same file.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from pydantic import Field

from finmatch_platform.resources.deployment import FixedByDeployment
from finmatch_platform.resources.warehouse import WarehouseResource
from finmatch_platform.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
WAREHOUSE_PATH_ENV = "FINMATCH_WAREHOUSE_PATH"
WAREHOUSE_FILE_NAME = "finmatch.duckdb"
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"

# The dbt of this environment: the venv's bin folder is not on PATH under `.venv/bin/pytest`.
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.is_file() else "dbt"

# Files whose change makes the manifest stale (target/ and logs/ are dbt's own output).
_PROJECT_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests")

# os.environ is process-wide: two threads setting the warehouse path at once must not interleave.
_ENVIRON_LOCK = Lock()


@contextmanager
def _environ(overrides: Mapping[str, str]) -> Iterator[None]:
    with _ENVIRON_LOCK:
        saved = {name: os.environ.get(name) for name in overrides}
        os.environ.update(overrides)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _newest_input_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _PROJECT_INPUTS:
        path = project_dir / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            newest = max([newest, *(p.stat().st_mtime for p in path.rglob("*") if p.is_file())])
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    return not manifest.is_file() or manifest.stat().st_mtime < _newest_input_mtime(project.project_dir)


def prepare_dbt_project(project: DbtProject) -> Path:
    """Make sure ``target/manifest.json`` exists and is current; returns its path.

    Parsed only when missing or older than a project file, in every process alike, rather than
    with ``prepare_if_dev``: ``dagster dev`` marks every process it starts, run workers included,
    so each run would parse again before doing anything. The parse writes to a private folder and
    the manifest is moved into place in one rename, so processes loading the code location at the
    same moment never read half a file. Parsing opens no connection, so the warehouse path given
    to dbt is a placeholder in that folder, named like the platform's warehouse file: dbt-duckdb
    names the database after the file, and the manifest's relation names carry it.
    """
    if manifest_is_stale(project):
        project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=project.manifest_path.parent, prefix=".parse-") as scratch:
            parser = WarehouseDbtCliResource(
                project_dir=project,
                warehouse_path=str(Path(scratch) / WAREHOUSE_FILE_NAME),
                dbt_executable=DBT_EXECUTABLE,
            )
            parser.cli(["parse", "--quiet"], target_path=Path(scratch)).wait()
            os.replace(Path(scratch) / "manifest.json", project.manifest_path)
    return project.manifest_path


@functools.cache
def dbt_project() -> DbtProject:
    """The one description of the project: dagster-dbt's assets, the CLI resource and the tests use it."""
    return DbtProject(project_dir=DBT_PROJECT_DIR)


@functools.cache
def dbt_manifest() -> Path:
    """The project's current manifest, parsed at most once per process (and only when stale)."""
    return prepare_dbt_project(dbt_project())


class WarehouseDbtCliResource(FixedByDeployment, DbtCliResource):
    """``DbtCliResource`` that points dbt's profile at the warehouse file of this deployment."""

    warehouse_path: str = Field(description="The DuckDB warehouse file dbt reads and writes.")

    def cli(  # type: ignore[override]
        self, args: Sequence[str], *, indirect_selection: str | None = None, **kwargs: Any
    ) -> DbtCliInvocation:
        """``DbtCliResource.cli`` with the warehouse path, and optionally dbt's default
        ``DBT_INDIRECT_SELECTION`` for this invocation (dagster-dbt still overrides it when it
        selects checks one by one)."""
        warehouse = Path(self.warehouse_path).resolve()
        # dbt-duckdb creates the file but not its directory: a seed may be the first writer.
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        overrides = {WAREHOUSE_PATH_ENV: str(warehouse)}
        if indirect_selection is not None:
            overrides[INDIRECT_SELECTION_ENV] = indirect_selection
        # dagster-dbt copies os.environ into the dbt subprocess when it starts it, inside cli();
        # there is no per-invocation env argument, so the variables are set for that moment only.
        with _environ(overrides):
            return super().cli(args, **kwargs)


def build_dbt_resource(warehouse: WarehouseResource, project: DbtProject | None = None) -> WarehouseDbtCliResource:
    """The ``dbt`` resource for a Definitions: the project (this repository's by default) and the
    warehouse's file."""
    return WarehouseDbtCliResource(
        project_dir=project or dbt_project(), warehouse_path=warehouse.database, dbt_executable=DBT_EXECUTABLE
    )
