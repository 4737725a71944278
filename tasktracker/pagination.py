"""Pages of results: offset pages, opaque keyset cursors, and the links between pages."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from tasktracker.errors import InvalidQuery

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    per_page: int
    # Set when the next page can be reached by keyset position rather than by offset.
    next_cursor: str | None = None

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page)


def encode_cursor(sort: str, values: Sequence[Any], page: int) -> str:
    """An opaque position after `values` in the order `sort`, landing on page `page`."""
    payload = {
        "s": sort,
        "v": [v.isoformat() if isinstance(v, datetime) else v for v in values],
        "p": page,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, parse: Callable[[list[Any]], P]) -> tuple[P, int]:
    """The position (through `parse`, which raises ValueError on a misfit) and page number a
    cursor carries; 400 if it is not one we made for `sort`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        values, page = payload["v"], payload["p"]
        if (
            payload["s"] != sort
            or not isinstance(values, list)
            or len(values) != sort.count(",") + 1
        ):
            raise ValueError("cursor made for another sort")
        if not isinstance(page, int) or isinstance(page, bool) or page < 2:
            raise ValueError("bad page")
        position = parse(values)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidQuery(
            "The cursor is not valid for this list; start again from the first page.",
            details={"cursor": ["Invalid cursor."]},
        ) from None
    return position, page


def page_links(page: Page[Any], base_url: str, args: Mapping[str, Any]) -> dict[str, str]:
    """first/prev/next/last URLs keeping the query's other parameters (RFC 8288 relations)."""
    kept = [
        (key, value)
        for key, values in _lists(args)
        if key not in ("page", "skip", "limit", "cursor", "per_page")
        for value in values
        if value != ""
    ]

    def url(**position: Any) -> str:
        query = [*kept, ("per_page", page.per_page), *position.items()]
        return f"{base_url}?{urlencode(query)}"

    last = max(page.pages, 1)
    links = {"first": url(page=1), "last": url(page=last)}
    if page.page > 1:
        links["prev"] = url(page=min(page.page - 1, last))
    if page.next_cursor:
        links["next"] = url(cursor=page.next_cursor)
    elif page.page < page.pages:
        links["next"] = url(page=page.page + 1)
    return links


def link_header(links: Mapping[str, str]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


def _lists(args: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    getlist = getattr(args, "getlist", None)
    return [(key, getlist(key) if getlist else [args[key]]) for key in args]
