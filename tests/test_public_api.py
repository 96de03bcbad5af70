"""The one import path for connector authors: ``headwater`` itself."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import headwater
import pytest


@pytest.mark.parametrize("name", headwater.__all__)
def test_every_public_name_resolves(name):
    assert getattr(headwater, name) is not None


def test_runtime_classes_are_named_apart_from_their_specs():
    assert headwater.ApiKeyAuthenticator is not headwater.ApiKeyAuth
    assert headwater.OffsetPaginator.__module__ == "headwater.http.paginators"
    assert headwater.OAuth2ClientCredentialsAuthenticator.__module__ == (
        "headwater.http.authenticators"
    )


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = headwater.Nope


def test_versions_come_from_the_distributions_metadata():
    import headwater_analytics
    import headwater_directory
    import headwater_hr

    assert headwater.__version__ == version("headwater")
    assert headwater_directory.__version__ == version("headwater-directory")
    assert headwater_analytics.__version__ == version("headwater-analytics")
    assert headwater_hr.__version__ == version("headwater-hr")


def test_connectors_without_a_policy_get_the_seeds_retry_policy():
    from headwater_directory.hooks import DIRECTORY

    assert DIRECTORY.retry is headwater.DEFAULT_RETRY
    undeclared = headwater.Connector(name="x", package="x", resources=DIRECTORY.resources)
    assert undeclared.retry == headwater.DEFAULT_RETRY
    assert undeclared.retry.status_codes == (429, 500, 502, 503, 504)


def test_importing_headwater_loads_neither_dlt_nor_the_runtime_classes():
    code = (
        "import sys, headwater\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dlt', 'requests')"
        " or m.startswith(('headwater.http', 'headwater.load', 'headwater.run'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
