"""What the analytics connectors share: the seeds' retry policy."""

from __future__ import annotations

from headwater.spec import RetryPolicy

#: Seeds 001-003: retry 429 and 5xx with exponential backoff; "maximum retries 3"
#: means up to 4 attempts, waiting 2, 4 and 8 seconds (backoff factor 2).
RETRY = RetryPolicy(status_codes=(429, 500, 502, 503, 504), max_retries=3, backoff_factor=2)
