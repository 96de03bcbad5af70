"""HTTP sessions with a retry policy, built from dlt's retrying ``requests`` pieces."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import requests

from headwater.spec import RetryPolicy

if TYPE_CHECKING:
    from headwater.throttle import Throttle

__all__ = ["MAX_RETRY_AFTER", "retrying_session"]

#: Longest ``Retry-After`` honoured (seconds). A server asking for longer gets this.
MAX_RETRY_AFTER = 300.0


def retrying_session(
    policy: RetryPolicy, *, url: str | None = None, throttles: Sequence[Throttle] = ()
) -> requests.Session:
    """A session that retries ``policy.status_codes``, dropped connections and timeouts.

    ``max_retries`` retries after the first attempt; the wait grows as
    ``backoff_factor * 2**n`` up to ``max_delay``. A ``Retry-After`` header (seconds or
    an HTTP date) is honoured when the policy says so, up to :data:`MAX_RETRY_AFTER` —
    not capped by ``max_delay`` (dlt caps it there, so a client would come back before
    the server asked and be refused again); ``0`` or a past date falls back to the
    exponential wait, so it never spins.

    ``throttles`` are waited on before every attempt, retries included.

    Proxy settings (``HTTPS_PROXY``, ``NO_PROXY``, ...) and the CA bundle
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are read from the environment once, for
    ``url``'s host: requests would otherwise scan the whole environment three times per
    request, which cost a quarter of the time of reading a page from a local API.
    """
    from dlt.sources.helpers.requests.retry import (
        DEFAULT_RETRY_EXCEPTIONS,
        retry_if_status,
        wait_exponential_retry_after,
    )
    from dlt.sources.helpers.requests.session import Session
    from requests.adapters import HTTPAdapter
    from tenacity import (
        Retrying,
        retry_any,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    class WaitRetryAfter(wait_exponential_retry_after):
        # dlt clamps the header to the backoff cap (self.max); this clamps it to ours.
        # The wait object is shared by every thread: it must not change its own state.
        def _parse_retry_after(self, retry_after: str) -> float | None:
            text = retry_after.strip()
            if text.isdigit():
                seconds = float(text)
            else:
                parsed = email.utils.parsedate_tz(text)
                if parsed is None:
                    return None
                seconds = email.utils.mktime_tz(parsed) - time.time()
            if seconds <= 0:
                return None
            return min(MAX_RETRY_AFTER, seconds)

    wait_cls = WaitRetryAfter if policy.respect_retry_after else wait_exponential
    retrying = Retrying(
        wait=wait_cls(multiplier=policy.backoff_factor, max=policy.max_delay),
        retry=retry_any(
            retry_if_status(policy.status_codes),
            retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS),
        ),
        stop=stop_after_attempt(policy.max_retries + 1),
        reraise=True,
        retry_error_callback=lambda state: state.outcome.result(),
    )
    session: Any = Session(timeout=policy.timeout, raise_for_status=False)
    adapter = HTTPAdapter(pool_maxsize=50)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    plain_send = session.send

    def throttled_send(*args: Any, **kwargs: Any) -> requests.Response:
        for throttle in throttles:
            throttle.wait()
        return plain_send(*args, **kwargs)

    session.send = retrying.wraps(throttled_send if throttles else plain_send)
    session.trust_env = False
    if url is not None:
        session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session
