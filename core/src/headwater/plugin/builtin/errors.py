"""Builtin error handling: the connector's declared retry policy and response rules."""

from __future__ import annotations

from collections.abc import Sequence

from headwater.markers import hookimpl
from headwater.spec import Connector, Resource, ResponseRule, RetryPolicy


@hookimpl(trylast=True)
def headwater_retry_policy(connector: Connector, resource: Resource) -> RetryPolicy:
    """The connector's declared retry policy."""
    return connector.retry


@hookimpl(trylast=True)
def headwater_response_rules(connector: Connector, resource: Resource) -> Sequence[ResponseRule]:
    """The resource's declared response rules, then the connector's."""
    return (*resource.response_rules, *connector.response_rules)
