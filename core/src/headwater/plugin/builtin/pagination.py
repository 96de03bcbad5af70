"""Builtin ``headwater_paginator``: a fresh paginator from the resource's pagination spec."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.markers import hookimpl
from headwater.spec import (
    Connector,
    CursorPagination,
    HeaderCursorPagination,
    LastRecordPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PageNumberPagination,
    Resource,
    SinglePage,
)

if TYPE_CHECKING:
    from dlt.sources.helpers.rest_client.paginators import BasePaginator


@hookimpl(trylast=True)
def headwater_paginator(connector: Connector, resource: Resource) -> BasePaginator | None:
    """A new paginator for ``resource.pagination`` (its response paths compiled once:
    :func:`headwater.http.paginators.compile_path` caches them)."""
    # imports dlt: the plugin manager is built for `headwater list` too
    from headwater.http import paginators

    spec = resource.pagination
    if isinstance(spec, OffsetPagination):
        return paginators.OffsetPaginator(
            limit=spec.limit,
            offset_param=spec.offset_param,
            limit_param=spec.limit_param,
            total_path=spec.total_path,
            location=spec.location,
        )
    if isinstance(spec, CursorPagination):
        return paginators.CursorPaginator(
            cursor_path=spec.cursor_path,
            cursor_param=spec.cursor_param,
            page_size=spec.page_size,
            page_size_param=spec.page_size_param,
            location=spec.location,
            end_path=spec.end_path,
        )
    if isinstance(spec, NextLinkPagination):
        return paginators.NextLinkPaginator(next_path=spec.next_path, end_path=spec.end_path)
    if isinstance(spec, PageNumberPagination):
        return paginators.PageNumberPaginator(
            page_param=spec.page_param,
            start=spec.start,
            page_size=spec.page_size,
            page_size_param=spec.page_size_param,
            total_pages_path=spec.total_pages_path,
            total_path=spec.total_path,
            location=spec.location,
        )
    if isinstance(spec, LinkHeaderPagination):
        return paginators.LinkHeaderPaginator(rel=spec.rel)
    if isinstance(spec, HeaderCursorPagination):
        return paginators.HeaderCursorPaginator(
            header=spec.header,
            cursor_param=spec.cursor_param,
            page_size=spec.page_size,
            page_size_param=spec.page_size_param,
            location=spec.location,
        )
    if isinstance(spec, LastRecordPagination):
        return paginators.LastRecordPaginator(
            cursor_field=spec.cursor_field,
            cursor_param=spec.cursor_param,
            has_more_path=spec.has_more_path,
            page_size=spec.page_size,
            page_size_param=spec.page_size_param,
            location=spec.location,
        )
    if isinstance(spec, SinglePage):
        return paginators.SinglePagePaginator()
    return None
