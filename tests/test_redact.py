"""Redaction of registered secrets, long and short."""

from __future__ import annotations

import logging

from headwater import redact


def test_long_secret_masked_everywhere_including_url_encoded():
    redact.register(["s3cr3t/with+chars"])
    text = "token=s3cr3t/with+chars url=?k=s3cr3t%2Fwith%2Bchars"
    assert redact.redact(text) == "token=*** url=?k=***"


def test_short_secret_masked_where_it_stands_alone_only():
    redact.register(["k9"])
    assert redact.redact("GET /v1?api_key=k9&offset=0") == "GET /v1?api_key=***&offset=0"
    assert redact.redact('{"api_key": "k9"}') == '{"api_key": "***"}'
    assert redact.redact("chunk k92 fork9 k9x") == "chunk k92 fork9 k9x"  # inside words: kept


def test_every_log_record_is_redacted(caplog):
    caplog.set_level(logging.DEBUG)
    redact.register(["canary-log-secret-1"])
    redact.install()
    logging.getLogger("urllib3.connectionpool").debug("GET /x?key=%s", "canary-log-secret-1")
    assert "canary-log-secret-1" not in caplog.text
    assert "GET /x?key=***" in caplog.text
