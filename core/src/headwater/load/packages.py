"""The load packages a pipeline has normalized and not loaded yet: what its next load
step will load, read before that step runs.

A run decides some things about its load from them — whether dlt's merge will
deduplicate (:mod:`headwater.load.unique`), the DuckDB memory limit the load needs,
which merges can go straight into their table — and a run that finds packages an
earlier run left behind corrects them before they load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from attrs import frozen

__all__ = ["Pending", "pending"]


@frozen
class Pending:
    """One normalized package waiting to load: its ``schema`` (dlt's, as the load
    step will read it) and its ``jobs`` (dlt's ``LoadJobInfo``, in any state)."""

    load_id: str
    schema: Any
    jobs: tuple[Any, ...]
    storage: Any

    @property
    def tables(self) -> set[str]:
        """The tables that have a file to load in this package."""
        return {job.job_file_info.table_name for job in self.jobs}

    def save_schema(self) -> None:
        """Write :attr:`schema` back, as the load step will read it."""
        self.storage.save_schema(self.load_id, self.schema)


def pending(pipeline: Any) -> Iterator[Pending]:
    """The packages ``pipeline`` has normalized and not yet loaded, oldest first."""
    storage = pipeline._get_load_storage().normalized_packages
    for load_id in pipeline.list_normalized_load_packages():
        info = storage.get_load_package_info(load_id)
        jobs = tuple(job for state in info.jobs.values() for job in state)
        yield Pending(load_id, storage.load_schema(load_id), jobs, storage)
