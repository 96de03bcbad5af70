"""Load: a connector's resources assembled into a dlt source (``assemble``), records
checked against their schemas (``validation``), typed into Arrow tables (``arrow``),
and the unique-key bookkeeping that lets a merge skip deduplication (``unique``).

May import: ``headwater.plugin``, ``headwater.http`` and the foundation modules. Not
``run``, ``cli``, ``testing`` or ``scaffold``.
"""
