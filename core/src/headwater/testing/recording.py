"""Conformance against a recording: the connector checked against what the real API
sent once (``headwater record NAME --to DIR``), replayed offline — no network, no
credentials.

Adopt it beside (or instead of) the simulator's
:class:`~headwater.testing.conformance.ConformanceSuite`::

    # tests/test_recording.py of your connector package
    import headwater_mything.hooks
    from headwater.testing.recording import RecordingSuite

    class TestMythingRecording(RecordingSuite):
        connector = "mything"
        plugins = (headwater_mything.hooks,)
        recording = "cassettes/mything"  # relative to this test file

The simulator is generated from the declaration, so it can only confirm that the
connector agrees with itself; a recording is the API's own word:

* the recording replays into DuckDB, every recorded record of every top-level
  resource loaded once (and nothing is asked that the recording lacks);
* every record's values have the JSON types its schema declares (schema drift:
  ``headwater check NAME --replay DIR`` lists all of it);
* with :attr:`RecordingSuite.strict`, no record has a field the schema does not declare.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from headwater.plugin.manager import Registry
from headwater.run.drift import declared_schemas, find_drift
from headwater.run.sampling import Sample, watching
from headwater.run.workdir import file_format_for

__all__ = ["RecordingSuite"]


class RecordingSuite:
    """Subclass as ``Test<Something>``; set :attr:`connector` and :attr:`recording`."""

    #: the connector's name
    connector: ClassVar[str] = ""
    #: plugins to register (your hooks module); empty: use the installed entry points
    plugins: ClassVar[Sequence[Any]] = ()
    #: the recording's folder, relative to the test module (or absolute)
    recording: ClassVar[str] = ""
    #: fail on fields the records have and the schemas do not declare
    strict: ClassVar[bool] = False

    @pytest.fixture
    def replayed(
        self, headwater_env: Path, headwater_plugins: Any, headwater_replay: Any
    ) -> tuple[Any, dict[str, Any]]:
        """The connector and the settings of its replay."""
        if not self.connector or not self.recording:
            pytest.fail(f"{type(self).__name__} must set `connector` and `recording`")
        pm = headwater_plugins(*self.plugins, entry_points=not self.plugins, strict=True)
        directory = Path(inspect.getfile(type(self))).parent / self.recording
        return Registry(pm).get(self.connector), headwater_replay(self.connector, directory)

    def test_recording_replays_every_record_once(
        self, replayed: tuple[Any, dict[str, Any]], duckdb_pipeline: Any
    ) -> None:
        """The replay loads each top-level resource's recorded records, once each."""
        import headwater

        spec, settings = replayed
        sample = Sample(size=10**9)
        pipeline = duckdb_pipeline("recording")
        with watching(self.connector, sample=sample):
            pipeline.run(
                headwater.source(self.connector, **settings),
                loader_file_format=file_format_for("duckdb"),
            )
        counts = pipeline.last_trace.last_normalize_info.row_counts
        for resource in spec.resources:
            served = sample.records.get(resource.name, [])
            if resource.parent is not None or not served:
                continue
            assert counts.get(resource.name) == len(served), (
                f"{resource.name}: loaded {counts.get(resource.name)} rows of the "
                f"{len(served)} records recorded"
            )

    def test_records_have_declared_types(self, replayed: tuple[Any, dict[str, Any]]) -> None:
        """Every recorded value has a JSON type its resource's schema allows."""
        import headwater

        spec, settings = replayed
        sample = Sample(size=10**9)
        with watching(self.connector, sample=sample):
            for _item in headwater.source(self.connector, **settings):
                pass
        schemas = declared_schemas(spec)
        problems = []
        for name, records in sorted(sample.records.items()):
            parent = spec.resource(name).parent
            added = (parent.column,) if parent is not None and parent.column else ()
            drift = find_drift(name, schemas[name], records, sample.pages.get(name, 0), added)
            problems.extend(
                line
                for line in drift.lines()
                if "types the schema does not declare" in line
                or (self.strict and "not declared" in line)
            )
        assert not problems, "; ".join(problems)
