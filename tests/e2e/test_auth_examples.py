"""The auth examples of #16 (``tests/auth_examples``), declared without hook code, pass
the conformance suite: every record, retries, token renewal (and for refresh tokens the
rotation kept in the token store), clear errors, and a canary secret of each kind in no
output and no file."""

from __future__ import annotations

import auth_examples
import pytest
from auth_examples.entry_point import install
from headwater.testing.conformance import ConformanceSuite


class _Installed:
    """The conformance suite's CLI runs find the example connectors."""

    plugins = (auth_examples,)
    records = 60

    @pytest.fixture(autouse=True)
    def _entry_point(self, tmp_path, monkeypatch):
        for key, value in install(tmp_path).items():
            monkeypatch.setenv(key, value)


class TestHubspotStyleConformance(_Installed, ConformanceSuite):
    connector = "hubspot_example"


class TestGoogleServiceAccountConformance(_Installed, ConformanceSuite):
    connector = "google_example"


class TestJwtBearerConformance(_Installed, ConformanceSuite):
    connector = "jwt_bearer_example"


class TestLoginSessionConformance(_Installed, ConformanceSuite):
    connector = "login_example"


class TestCookieSessionConformance(_Installed, ConformanceSuite):
    connector = "cookie_login_example"


class TestTemplateHeadersConformance(_Installed, ConformanceSuite):
    connector = "template_example"


class TestClientSecretBasicConformance(_Installed, ConformanceSuite):
    connector = "basic_client_example"
