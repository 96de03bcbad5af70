"""The conformance suite: what every connector must do, checked against the simulator.

Adopt it in a few lines::

    # tests/test_conformance.py of your connector package
    import headwater_mything.hooks
    from headwater.testing.conformance import ConformanceSuite

    class TestMythingConformance(ConformanceSuite):
        connector = "mything"
        plugins = (headwater_mything.hooks,)

Every test runs the connector, as declared, against a :class:`~headwater.testing.Simulator`
serving its API on 127.0.0.1, into DuckDB:

* every record is loaded exactly once (compared with the simulator's data set);
* columns have the declared types and nullability;
* a second run merges (changed records updated, none duplicated) or, for incremental
  resources, sends the cursor and loads only new records;
* bursts of the retried status codes within the retry policy are survived;
* access tokens (OAuth2, JWT grant, login session) expiring mid-run are renewed, and a
  refresh token the token endpoint rotated is kept in the token store for the next run;
* a permanent failure ends in one clear error naming the resource;
* a canary secret appears in no output and no file: on success, a permanent error,
  malformed JSON, a 401 and a run killed with SIGKILL (for the JWT kinds, whose
  ``private_key`` must be a real key, the key the simulator generates);
* incremental resources: a backfill (``run --start A --end B``) requests ``[A, B)``,
  loads the records of that range and leaves the normal run's position as it was; a
  windowed backfill killed with SIGKILL resumes at the slice it was reading, with
  every record loaded exactly once.

A connector whose own ``headwater_auth`` or ``headwater_paginator`` hook replaces a
declared kind cannot be simulated from its declaration: give the suite what the API
expects (:attr:`ConformanceSuite.simulated_auth`, :attr:`ConformanceSuite.simulated_pages`)
and every check runs against that; without it, the checks report what they cannot
check as *not checkable* (a skip with that reason when nothing is left to check, a
:class:`NotCheckable` warning when the other resources were checked) instead of
failing against a simulator that serves the declared kind.

Retry *delays* are shortened (a wrapper of ``headwater_retry_policy`` sets the backoff
to zero) so the suite runs in seconds; status codes and retry counts stay as declared.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from headwater.errors import PluginError, ResponseError
from headwater.load.assemble import ConnectorHooks
from headwater.plugin.manager import Registry, get_plugin_manager
from headwater.run.describe import custom_hooks
from headwater.run.dlt_errors import explain
from headwater.run.workdir import file_format_for
from headwater.schema import columns_from_schema
from headwater.settings import env_text, env_var, settings_schema
from headwater.testing import Fault
from headwater.testing.cli_process import NoWaiting, run_cli, start_cli

__all__ = ["ConformanceSuite", "NotCheckable"]

CANARY = "canary-Hw-9f3b27d1"

# dlt column type -> DuckDB information_schema data_type
_DUCKDB_TYPES = {
    "text": "VARCHAR",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "time": "TIME",
    "json": "JSON",
}


#: Auth kinds whose access tokens the simulated API expires (``token_ttl``) and counts.
_EXPIRING = ("oauth2_client_credentials", "oauth2_refresh_token", "jwt_grant", "session")


def _sequential_requests(sim: Any) -> int:
    """The most API requests of the run that were sent one after another, each after
    the one before was answered (concurrent ones share a token's age)."""
    answered = sorted((r.time + r.duration, r.time) for r in sim.requests if r.resource != "token")
    count, free_at = 0, -math.inf
    for end, start in answered:
        if start >= free_at:
            count, free_at = count + 1, end
    return count


class NotCheckable(UserWarning):
    """Part of a connector the conformance suite could not check (and why)."""


class ConformanceSuite:
    """Subclass as ``Test<Something>`` and set :attr:`connector` (and :attr:`plugins`)."""

    #: the connector's name
    connector: ClassVar[str] = ""
    #: plugins to register (your hooks module); empty: use the installed entry points
    plugins: ClassVar[Sequence[Any]] = ()
    #: records per top-level resource served by the simulator
    records: ClassVar[int] = 250
    #: extra settings passed to ``headwater.source`` (beyond the simulator's)
    settings: ClassVar[dict[str, Any]] = {}
    #: what the API expects from the connector's own ``headwater_auth`` hook: a
    #: :class:`~headwater.testing.CustomAuth` (``None``: the declared auth)
    simulated_auth: ClassVar[Any] = None
    #: resource -> :data:`~headwater.testing.custom.PageFunction` for resources whose
    #: pages the connector's own ``headwater_paginator`` hook reads
    simulated_pages: ClassVar[Mapping[str, Any]] = {}

    # ------------------------------------------------------------------ fixtures

    @pytest.fixture
    def spec(self, headwater_env: Path, headwater_plugins: Any) -> Any:
        """The connector declared by :attr:`plugins`, with retry delays shortened."""
        if not self.connector:
            pytest.fail(f"{type(self).__name__} must set `connector`")
        pm = headwater_plugins(
            *self.plugins, NoWaiting(), entry_points=not self.plugins, strict=True
        )
        return Registry(pm).get(self.connector)

    @pytest.fixture
    def hooks(self, spec: Any) -> Any:
        """Which of the connector's auth and paginators its own hooks provide; a hook
        answering with the wrong type fails every check, with the error a run gives."""
        try:
            return custom_hooks(spec, get_plugin_manager(), self.settings)
        except PluginError as exc:
            wrong = str(exc)
        pytest.fail(wrong, pytrace=False)  # one line: the error, not its chain

    @pytest.fixture
    def checked(self, spec: Any, hooks: Any) -> list[Any]:
        """The resources the suite can check. What it cannot (a custom hook with no
        simulated behaviour) is reported: the test is skipped as *not checkable* when
        nothing is left, else a :class:`NotCheckable` warning names what was left out."""
        suite = type(self).__name__
        reasons: dict[str, str] = {}
        if hooks.auth is not None and self.simulated_auth is None:
            why = (
                f"not checkable: {spec.name} authenticates with its own headwater_auth hook "
                f"(plugin {hooks.auth}), which the simulator cannot derive; set "
                f"simulated_auth = CustomAuth(...) on {suite} to check it"
            )
            reasons = {r.name: why for r in spec.resources}
        for name, plugin in hooks.paginators.items():
            if name not in self.simulated_pages:
                reasons.setdefault(
                    name,
                    f"not checkable: resource {name} pages with its own headwater_paginator "
                    f"hook (plugin {plugin}), which the simulator cannot derive; set "
                    f"simulated_pages = {{{name!r}: function}} on {suite} to check it",
                )
        grown = True
        while grown:  # a child of a resource that is not checked is not checked either
            grown = False
            for resource in spec.resources:
                parent = resource.parent.resource if resource.parent else None
                if parent in reasons and resource.name not in reasons:
                    reasons[resource.name] = (
                        f"{reasons[parent]} (resource {resource.name} is its child)"
                    )
                    grown = True
        if len(reasons) == len(spec.resources):
            pytest.skip("; ".join(dict.fromkeys(reasons.values())))
        for why in dict.fromkeys(reasons.values()):
            warnings.warn(NotCheckable(why), stacklevel=2)
        return [r for r in spec.resources if r.name not in reasons]

    @pytest.fixture
    def serve(self, spec: Any, api_simulator: Any) -> Any:
        """Factory: a simulator for the connector; options as for ``Simulator``."""

        def start(**options: Any) -> Any:
            counts = {r.name: self.records for r in spec.resources if r.parent is None}
            if self.simulated_auth is not None:
                options.setdefault("auth", self.simulated_auth)
            if self.simulated_pages:
                options.setdefault("pages", self.simulated_pages)
            return api_simulator(spec, records=counts, **options)

        return start

    def _load(
        self, sim: Any, pipeline: Any, checked: Sequence[Any] | None = None, **settings: Any
    ) -> Any:
        import headwater

        names = None if checked is None else [r.name for r in checked]
        if names is not None and len(names) == len(sim.connector.resources):
            names = None  # every resource: as a user runs it
        source = headwater.source(
            self.connector, resources=names, **{**self.settings, **sim.settings, **settings}
        )
        return pipeline.run(source, loader_file_format=file_format_for("duckdb"))

    @staticmethod
    def _rows(pipeline: Any, table: str) -> list[dict[str, Any]]:
        with (
            pipeline.sql_client() as client,
            client.execute_query(f'select * from "{table}"') as cursor,
        ):
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    @staticmethod
    def _expected(spec: Any, sim: Any, name: str) -> list[dict[str, Any]]:
        resource = spec.resource(name)
        data = sim.data[name]
        if resource.parent is None:
            return list(data)
        rows = []
        for parent_value, children in data.items():
            for child in children:
                column = resource.parent.column
                rows.append({**child, column: parent_value} if column else dict(child))
        return rows

    @staticmethod
    def _key(resource: Any, row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row.get(c)) for c in resource.primary_key_columns)

    def _assert_loaded_exactly(
        self, spec: Any, sim: Any, pipeline: Any, checked: Sequence[Any]
    ) -> None:
        for resource in checked:
            expected = self._expected(spec, sim, resource.name)
            loaded = self._rows(pipeline, resource.name) if expected else []
            if not resource.primary_key_columns:
                # no key to tell the records apart (a loaded row has dlt's own columns
                # and names, and the destination's types): their number must match
                assert len(loaded) == len(expected), (
                    f"{resource.name}: {len(loaded)} rows loaded, {len(expected)} served"
                )
                continue
            keys = [self._key(resource, r) for r in loaded]
            assert len(keys) == len(set(keys)), f"{resource.name}: duplicate rows loaded"
            assert sorted(keys) == sorted(self._key(resource, r) for r in expected), (
                f"{resource.name}: loaded rows differ from the {len(expected)} served"
            )

    # --------------------------------------------------------------------- tests

    def test_every_record_extracted_exactly(
        self, spec: Any, checked: Any, serve: Any, duckdb_pipeline: Any
    ):
        """Every record the API serves is loaded exactly once, in every resource's table
        (a resource without a primary key: as many rows as records)."""
        sim = serve()
        pipeline = duckdb_pipeline("conformance")
        self._load(sim, pipeline, checked)
        self._assert_loaded_exactly(spec, sim, pipeline, checked)

    def test_column_types_as_declared(
        self, spec: Any, checked: Any, serve: Any, duckdb_pipeline: Any
    ):
        """Each declared column has the type and nullability its JSON Schema gives it."""
        sim = serve()
        pipeline = duckdb_pipeline("types")
        self._load(sim, pipeline, checked)
        hooks = ConnectorHooks(get_plugin_manager(), spec)  # checked, as a run asks
        for resource in checked:
            if not self._expected(spec, sim, resource.name):
                continue
            schema = hooks.record_schema(resource)
            declared = columns_from_schema(schema, resource.primary_key_columns)
            with pipeline.sql_client() as client:
                actual = {
                    name: (dtype, nullable)
                    for name, dtype, nullable in client.execute_sql(
                        "select column_name, data_type, is_nullable from "
                        "information_schema.columns where table_schema = %s and table_name = %s",
                        pipeline.dataset_name,
                        resource.name,
                    )
                }
            # the column of each declared field, as the source's naming convention names it
            column = pipeline.default_schema.naming.normalize_identifier
            for field, hint in declared.items():
                name = column(field)
                assert name in actual, f"{resource.name}.{name}: declared column not loaded"
                if "data_type" in hint:
                    assert actual[name][0] == _DUCKDB_TYPES[hint["data_type"]], (
                        f"{resource.name}.{name}: {actual[name][0]}, declared {hint['data_type']}"
                    )
                if not hint["nullable"]:
                    assert actual[name][1] == "NO", f"{resource.name}.{name} should be NOT NULL"

    def test_second_run_merges_or_loads_incrementally(
        self, spec: Any, checked: Any, serve: Any, duckdb_pipeline: Any
    ):
        """After changes on the API, a second run updates changed records, adds new ones,
        duplicates none, and sends the incremental parameter (an append resource that is
        not incremental loads its records again: reported as not checkable).
        """
        sim = serve()
        pipeline = duckdb_pipeline("second_run")
        self._load(sim, pipeline, checked)
        for resource in checked:
            if resource.parent is None:
                sim.mutate(resource.name, 3)
                sim.grow(resource.name, 5)
        sim.reset_log()
        self._load(sim, pipeline, checked)
        # an append resource read whole each run loads its records again, by design
        again = {r.name for r in checked if _appends_everything(spec, r)}
        for name in sorted(again):
            warnings.warn(
                NotCheckable(
                    f"{name} appends every record on each run (write_disposition append, "
                    "not incremental): a second run loads them again"
                ),
                stacklevel=2,
            )
        self._assert_loaded_exactly(
            spec, sim, pipeline, [r for r in checked if r.name not in again]
        )
        for resource in checked:
            if resource.incremental is None or resource.parent is not None:
                continue
            sent = [
                r.query.get(resource.incremental.param) for r in sim.requests_for(resource.name)
            ]
            assert sent and all(sent), (
                f"{resource.name}: the second run did not send {resource.incremental.param}"
            )

    def test_recovers_from_transient_faults(
        self, spec: Any, checked: Any, serve: Any, duckdb_pipeline: Any
    ):
        """A burst of retryable failures (each retry status, then a dropped connection), one short
        of giving up, loses nothing.
        """
        # Per top-level resource, the first requests fail max_retries times in a row
        # (each of the policy's status codes in turn, the last one a dropped
        # connection): one short of giving up.
        faults = []
        burst = spec.retry.max_retries
        codes = list(spec.retry.status_codes) or [503]
        for resource in checked:
            if resource.parent is not None or not burst:
                continue
            for n in range(burst):
                if n == burst - 1 and burst > 1:
                    faults.append(Fault("drop", resource=resource.name))
                else:
                    faults.append(
                        Fault("status", status=codes[n % len(codes)], resource=resource.name)
                    )
        sim = serve(faults=faults)
        pipeline = duckdb_pipeline("faults")
        self._load(sim, pipeline, checked)
        self._assert_loaded_exactly(spec, sim, pipeline, checked)
        statuses = [r.status for r in sim.requests if r.resource != "token"]
        assert any(s >= 400 or s == 0 for s in statuses), "no fault was injected"

    def test_token_renewed_mid_run(
        self, spec: Any, hooks: Any, serve: Any, duckdb_pipeline: Any, request: Any
    ):
        """An access token (OAuth2, JWT grant, login session) that expires mid-run is renewed
        and the run completes (skipped for auth kinds without expiring tokens, and when
        the run makes fewer than 3 requests one after another, too few to outlive a
        token: raise ``records``).
        """
        if hooks.auth is not None:
            pytest.skip(
                f"not checkable: {spec.name} authenticates with its own headwater_auth hook "
                f"(plugin {hooks.auth}): the simulator cannot expire what that hook sends"
            )
        kind = spec.auth.kind if spec.auth is not None else "none"
        if kind == "jwt_bearer":
            pytest.skip(f"{spec.name} signs its own tokens (jwt_bearer): no token to expire")
        if kind not in _EXPIRING:
            pytest.skip(f"{spec.name} uses no expiring access tokens (auth: {kind})")
        checked = request.getfixturevalue("checked")  # after the skips: they say it all
        # A lifetime of 0.3 s, announced as such, and requests of at least 0.15 s:
        # the third request in a row is sent after the client's renewal point, so
        # every run of three requests or more renews, ahead of the end or on a 401.
        sim = serve(token_ttl=0.3, latency=0.15)
        pipeline = duckdb_pipeline("renewal")
        self._load(sim, pipeline, checked)
        self._assert_loaded_exactly(spec, sim, pipeline, checked)
        if sim.tokens_issued < 2:
            in_a_row = _sequential_requests(sim)
            if in_a_row < 3:
                pytest.skip(
                    f"not checkable: the run made only {in_a_row} API request(s) one after "
                    f"another, too few to outlive a {sim.token_ttl:g} s token; raise the "
                    f"suite's records (now {self.records}) so that a run needs 3 requests or more"
                )
        assert sim.tokens_issued >= 2, "the run outlived its token without renewing it"
        if kind == "oauth2_refresh_token":
            from headwater.http.token_store import setting_key

            store = ConnectorHooks(get_plugin_manager(), spec).token_store(sim.settings)
            key = setting_key(spec.name, sim.settings["refresh_token"])
            assert sim.refresh_token != sim.settings["refresh_token"], "no rotation happened"
            assert store.load(spec.name, key) == sim.refresh_token, (
                f"the rotated refresh token was not kept in the token store {store!r}: "
                "the next run would send a refresh token the API refuses"
            )

    def test_permanent_failure_is_a_clear_error(
        self, spec: Any, checked: Any, serve: Any, duckdb_pipeline: Any
    ):
        """A status that never recovers stops the run after the policy's retries with one line
        naming the resource and the status.
        """
        first = next(r for r in checked if r.parent is None)
        code = spec.retry.status_codes[0] if spec.retry.status_codes else 500
        sim = serve(faults=[Fault("status", status=code, resource=first.name, count=None)])
        with pytest.raises(Exception) as err:  # dlt wraps it; explain() unwraps
            self._load(sim, duckdb_pipeline("permanent"), checked)
        known = explain(err.value)
        assert isinstance(known, ResponseError), f"unexplained failure: {err.value!r}"
        text = str(known)
        assert "\n" not in text
        assert f"resource {spec.name}.{first.name}" in text and f"HTTP {code}" in text
        attempts = [r for r in sim.requests_for(first.name)]
        assert len(attempts) == spec.retry.max_retries + 1

    # ------------------------------------------------------------ incremental

    def _timed(self, checked: Sequence[Any]) -> list[Any]:
        timed = [r for r in checked if r.incremental is not None and r.parent is None]
        if not timed:
            pytest.skip(f"{self.connector} declares no top-level incremental resource")
        return timed

    def _range(self, sim: Any, resource: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
        """A backfill range over ``resource``'s served records: from just before the
        earliest cursor to the midpoint, and the records in it."""
        known = sorted(self._moments(sim, resource), key=lambda m: m[0])
        assert known, f"{resource.name}: no served record has a readable cursor"
        # a second before the first: an API's "since" may be exclusive
        start = known[0][0] - _ONE_SECOND
        end = max(start + (known[-1][0] - start) / 2, start + _ONE_SECOND)
        return start, end, [r for m, r in known if start <= m < end]

    @staticmethod
    def _start_sent(resource: Any, request: Any) -> Any:
        """The start bound a request carried, as a datetime (``None``: none)."""
        import json

        from headwater.timebounds import parse_auto, parse_value

        spec = resource.incremental
        if spec.location == "body":
            value: Any = json.loads(request.body or b"{}")
            for key in spec.param.split("."):
                value = value.get(key) if isinstance(value, dict) else None
        else:
            value = (request.query.get(spec.param) or [None])[-1]
        if value is None:
            return None
        return parse_value(value, spec.format) if spec.format else parse_auto(value)[0]

    def _state(self, pipeline_name: str) -> dict[str, Any]:
        import dlt

        from headwater.load.incremental import STATE_KEY
        from headwater.run.workdir import folder_pipelines_dir

        pipeline = dlt.attach(pipeline_name, pipelines_dir=folder_pipelines_dir())
        resources = pipeline.state.get("sources", {}).get(self.connector, {}).get("resources", {})
        return {name: r.get(STATE_KEY) for name, r in resources.items()}

    def test_backfill_leaves_the_normal_position(
        self, spec: Any, checked: Any, serve: Any, headwater_env: Path
    ):
        """``run --start A --end B`` requests ``[A, B)``, loads that range's records and
        leaves the state of the normal run as it was."""
        from headwater.run.pipeline import run_connector
        from headwater.timebounds import isoformat

        timed = self._timed(checked)
        sim = serve()
        settings = {**self.settings, **sim.settings}
        names = [r.name for r in checked]
        options = {"resources": names, "pipeline_name": "conformance_backfill"}
        run_connector(spec.name, settings, **options)
        before = self._state("conformance_backfill")
        for resource in timed:
            start, end, inside = self._range(sim, resource)
            sim.reset_log()
            result = run_connector(
                spec.name,
                settings,
                **{**options, "resources": [resource.name]},
                start=isoformat(start),
                end=isoformat(end),
            )
            sent = [self._start_sent(resource, r) for r in sim.requests_for(resource.name)]
            floor = start - _early(resource)  # a since API is asked a second early
            assert sent and all(s is not None and s >= floor for s in sent), (
                f"{resource.name}: the backfill did not request from {isoformat(start)}: {sent}"
            )
            assert result.row_counts.get(resource.name, 0) == len(inside), (
                f"{resource.name}: the backfill of [{isoformat(start)}, {isoformat(end)}) "
                f"loaded {result.row_counts.get(resource.name, 0)} rows, {len(inside)} served"
            )
        assert self._state("conformance_backfill") == before, (
            "a backfill changed the normal run's incremental state"
        )

    def test_killed_backfill_resumes_at_the_slice_it_was_reading(
        self, spec: Any, checked: Any, serve: Any, headwater_env: Path
    ):
        """A windowed backfill killed with SIGKILL at its fourth slice of ten: the rerun
        requests no slice with records before that slice, and every record is loaded
        exactly once."""
        import time

        from headwater.timebounds import format_bound, isoformat, parse_value

        sliceable = [
            r
            for r in self._timed(checked)
            if r.incremental.end_param is not None or r.incremental.client_filter
        ]
        if not sliceable:
            pytest.skip(
                f"{self.connector}: no incremental resource has an end parameter (or "
                "client_filter), so none can be cut into windows"
            )
        resource = sliceable[0]
        sim = serve(latency=0.02)
        moments = self._moments(sim, resource)
        start = min(m for m, _ in moments)
        end = max(m for m, _ in moments) + _ONE_SECOND
        window = max(int((end - start).total_seconds() // 10), 1)
        cut = start + 3 * _ONE_SECOND * window  # the fourth slice's start
        fmt = resource.incremental.format or "iso8601"
        # as precise as the API's format; a since API is asked a second before the slice
        cut_sent = parse_value(format_bound(cut - _early(resource), fmt), fmt)
        env = {
            **os.environ,
            **{env_var(spec.name, k): env_text(v) for k, v in sim.settings.items()},
            env_var(spec.name, "window"): f"{window}s",
        }
        command = ["run", spec.name, "--resource", resource.name, "--start", isoformat(start)]
        command += ["--end", isoformat(end), "--progress", "off"]
        process = start_cli(command, env=env)
        deadline = time.monotonic() + 120
        while not any(
            s is not None and s >= cut_sent
            for s in (self._start_sent(resource, r) for r in sim.requests_for(resource.name))
        ):
            if process.poll() is not None:
                raise AssertionError(process.result().stderr[-2000:])
            assert time.monotonic() < deadline, "the fourth slice was never requested"
            time.sleep(0.005)
        process.kill()
        process.result(timeout=30)
        sim.reset_log()
        done = run_cli(command, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        again = [self._start_sent(resource, r) for r in sim.requests_for(resource.name)]
        # slices that returned no record before the kill may be read again (they are
        # loaded together with the next one that has records): no slice with records
        width = _ONE_SECOND * window
        reloaded = [
            s
            for s in again
            if s is not None
            and s < cut_sent
            and any(s + _early(resource) <= m < s + _early(resource) + width for m, _ in moments)
        ]
        assert again and any(s is not None and s >= cut_sent for s in again), (
            f"{resource.name}: the rerun did not read on from the slice cut short"
        )
        assert not reloaded, (
            f"{resource.name}: the rerun requested slices that were loaded before the kill"
        )
        loaded = self._table(spec, resource)
        assert len(loaded) == len(set(loaded)), f"{resource.name}: a record was loaded twice"
        assert sorted(loaded) == sorted(self._key(resource, r) for _, r in moments), (
            f"{resource.name}: after the rerun the table differs from the records served"
        )

    def _table(self, spec: Any, resource: Any) -> list[tuple[str, ...]]:
        """The keys of ``resource``'s rows in the CLI's DuckDB file."""
        import duckdb

        with duckdb.connect(f"headwater_{spec.name}.duckdb", read_only=True) as db:
            [schema] = db.sql(
                "select table_schema from information_schema.tables "
                f"where table_name = '{resource.name}' and table_schema not like '%staging'"
            ).fetchone()
            cursor = db.sql(f'select * from "{schema}"."{resource.name}"')
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [self._key(resource, dict(zip(columns, row, strict=True))) for row in rows]

    def _moments(self, sim: Any, resource: Any) -> list[tuple[Any, dict[str, Any]]]:
        from headwater.load.incremental import SliceFilter

        found = SliceFilter(resource.incremental, None, None, False)
        out = []
        for record in sim.data[resource.name]:
            found.latest = None
            found.page([record])
            if found.latest is not None:
                out.append((found.latest, record))
        return out

    def test_canary_secret_absent_from_output_and_files(
        self, spec: Any, checked: Any, serve: Any, headwater_env: Path, tmp_path: Path
    ):
        """Success, permanent error, malformed JSON, 401 and SIGKILL: the CLI with
        ``--debug`` (every log at DEBUG on stderr), then every byte under the test's
        directory (working dir, dlt data dir, pipeline trace files)."""
        import time

        secrets = [k for k, p in settings_schema(spec)["properties"].items() if p.get("writeOnly")]
        if not secrets:
            pytest.skip(f"{spec.name} has no secret settings")
        # A JWT key must be a real key: the simulator makes one, and its text is the canary.
        sim = serve(credentials={k: f"{CANARY}-{k}" for k in secrets if k != "private_key"})
        canaries = [CANARY, *_key_lines(sim.credentials.get("private_key"))]
        settings = sim.settings.items()
        env = {**os.environ, **{env_var(spec.name, k): env_text(v) for k, v in settings}}
        command = ["--debug", "run", spec.name]
        if len(checked) < len(spec.resources):
            command += [arg for r in checked for arg in ("--resource", r.name)]
        code = spec.retry.status_codes[0] if spec.retry.status_codes else 503
        outputs = []
        modes: list[tuple[str, Any, int]] = [
            ("success", None, 0),
            (f"permanent {code}", Fault("status", status=code, count=None), 1),
            ("malformed JSON", Fault("malformed_json", count=None), 1),
            ("401", Fault("status", status=401, count=None), 1),
        ]
        for mode, fault, expected in modes:
            sim.clear_faults()
            if fault is not None:
                sim.add_fault(fault)
            done = run_cli(command, env=env)
            outputs.append((mode, done.stdout + done.stderr))
            assert done.returncode == expected, f"{mode}: {done.stderr[-2000:]}"
        # killed mid-run
        sim.clear_faults()
        sim.latency = 0.05
        sim.reset_log()
        process = start_cli(command, env=env)
        deadline = time.monotonic() + 60
        while len([r for r in sim.requests if r.resource != "token"]) < 3:
            if process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        process.kill()
        killed = process.result(timeout=60)
        outputs.append(("SIGKILL", killed.stdout + killed.stderr))
        sim.latency = 0.0
        for mode, output in outputs:
            for canary in canaries:
                assert canary not in output, f"a secret appeared in the CLI output ({mode})"
        for canary in canaries:
            leaked = [str(p) for p in _files(tmp_path) if canary.encode() in p.read_bytes()]
            assert not leaked, f"a secret was written to {leaked}"


def _appends_everything(spec: Any, resource: Any) -> bool:
    """Whether ``resource`` appends all its records on every run: an append resource
    that is not incremental, and whose parents (if a child) are not either."""
    if resource.write_disposition != "append" or resource.incremental is not None:
        return False
    while resource.parent is not None:
        resource = spec.resource(resource.parent.resource)
        if resource.incremental is not None:
            return False
    return True


def _key_lines(pem: str | None) -> list[str]:
    """The lines of a PEM key that are the key's own (not the BEGIN/END lines, nor the
    first body line, which starts with the algorithm's common prefix)."""
    if not pem or "-----BEGIN" not in pem:
        return [pem] if pem else []
    body = [line for line in pem.strip().splitlines() if not line.startswith("-----")]
    return [line for line in body[1:] if len(line) >= 16]


_ONE_SECOND = timedelta(seconds=1)


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def _early(resource: Any) -> Any:
    """How much before a slice's start a windowed read asks: a plain since API (no end
    parameter, no declared format) answers strictly after its bound, so it is asked a
    second early (:mod:`headwater.load.assemble`); others exactly at the start."""
    from datetime import timedelta

    from headwater.load.incremental import asks_after

    return timedelta(seconds=1) if asks_after(resource.incremental) else timedelta(0)
