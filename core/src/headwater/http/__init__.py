"""HTTP: talking to one REST API.

The retrying session and its response limits (``session``), the runtime
authenticators (``authenticators``), the paginators (``paginators``), the rate limit
(``throttle``), the page loop (``extract``) and page prefetching (``prefetch``).

May import: the foundation modules at the top of ``headwater`` (``spec``, ``settings``,
``errors``, ``redact``, ``schema``, ``markers``, ``suggest``, ``term``) only. Nothing here
knows about plugins, dlt sources or runs.
"""
