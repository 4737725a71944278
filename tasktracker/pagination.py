"""Pages of results: offset pages, opaque keyset cursors, and the links between pages."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, literal, tuple_

from tasktracker.errors import InvalidQuery
from tasktracker.extensions import db

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True)
class Total:
    """How many items the list holds, or at least how many (`exact` false) when counting
    them all would cost more than the page itself."""

    value: int
    exact: bool = True


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    per_page: int
    has_next: bool
    # Set when the next page can be reached by keyset position rather than by offset.
    next_cursor: str | None = None
    total_exact: bool = True

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page)


@dataclass(frozen=True)
class SortKey:
    """One key of an ORDER BY: a mapped column and its direction."""

    column: Any  # an ORM attribute such as Task.created_at
    descending: bool

    @property
    def spec(self) -> str:
        return ("-" if self.descending else "") + self.column.key

    @property
    def nullable(self) -> bool:
        return bool(self.column.expression.nullable)

    def order_by(self) -> ColumnElement[Any]:
        # NULL sorts as "never" on both databases: last ascending, first descending
        # (PostgreSQL's default; SQLite would put it first ascending).
        if self.nullable:
            return (
                self.column.desc().nulls_first()
                if self.descending
                else self.column.asc().nulls_last()
            )
        return self.column.desc() if self.descending else self.column.asc()

    def parse(self, value: Any) -> Any:
        """A cursor's value for this key, typed; ValueError if it does not fit."""
        python_type = self.column.type.python_type
        if python_type is datetime:
            parsed = datetime.fromisoformat(value)  # TypeError unless a string
            if parsed.tzinfo is None:
                raise ValueError("cursor times carry their offset")
            return parsed
        if python_type is uuid.UUID:
            if not isinstance(value, str):
                raise ValueError("ids are strings")
            return uuid.UUID(value)
        if not isinstance(value, python_type) or isinstance(value, bool):
            raise ValueError(f"{self.column.key} takes {python_type.__name__}")
        return value


def paginate(
    query: Select[Any],
    total: Total,
    keys: Sequence[SortKey],
    params: Mapping[str, Any],
    *,
    load: Callable[[Select[Any]], Sequence[Any]] | None = None,
) -> Page[Any]:
    """One page of `query` in the order of `keys` (the last of which must be unique), by
    `params` from PaginationQuerySchema, in a list of `total` items. `load` runs the page's
    statement and returns its items (by default the ORM entities it selects).

    A cursor is a row-value comparison (keyset pagination), which needs every key in one
    direction and none nullable; other orders page by offset only.
    """
    per_page = params["per_page"]
    spec = ",".join(key.spec for key in keys)
    keyset = len({key.descending for key in keys}) == 1 and not any(k.nullable for k in keys)
    query = query.order_by(*(key.order_by() for key in keys)).limit(per_page)
    page_number = params["page"]
    if "cursor" in params:
        if not keyset:
            raise InvalidQuery(
                "This order pages by number; cursors are only given for other orders.",
                details={"cursor": ["Invalid cursor."]},
            )
        position, page_number = decode_cursor(
            params["cursor"],
            spec,
            lambda values: [k.parse(v) for k, v in zip(keys, values, strict=True)],
        )
        query = query.where(_after(keys, position))
    else:
        query = query.offset(params["offset"])
    items = load(query) if load is not None else db.session.scalars(query).all()
    has_next = len(items) == per_page and (not total.exact or page_number * per_page < total.value)
    next_cursor = None
    if keyset and has_next:
        position = [getattr(items[-1], key.column.key) for key in keys]
        next_cursor = encode_cursor(spec, position, page_number + 1)
    return Page(items, total.value, page_number, per_page, has_next, next_cursor, total.exact)


def count(query: Select[Any]) -> Total:
    """The exact number of rows `query` (a SELECT count(*)) counts."""
    return Total(db.session.scalar(query) or 0)


def _after(keys: Sequence[SortKey], position: Sequence[Any]) -> ColumnElement[bool]:
    """Rows past `position` in the keys' (one) direction: a row-value comparison, which the
    order's index answers as a range scan."""
    columns = tuple_(*(key.column for key in keys))
    values = tuple_(*(literal(v, k.column.type) for k, v in zip(keys, position, strict=True)))
    return columns < values if keys[0].descending else columns > values


def encode_cursor(sort: str, values: Sequence[Any], page: int) -> str:
    """An opaque position after `values` in the order `sort`, landing on page `page`."""
    payload = {
        "s": sort,
        "v": [_json_value(v) for v in values],
        "p": page,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID) else value


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

    links = {"first": url(page=1)}
    if page.total_exact:  # else where the list ends is not known
        links["last"] = url(page=max(page.pages, 1))
    if page.page > 1:
        links["prev"] = url(page=min(page.page - 1, max(page.pages, 1)))
    if page.next_cursor:
        links["next"] = url(cursor=page.next_cursor)
    elif page.has_next:
        links["next"] = url(page=page.page + 1)
    return links


def link_header(links: Mapping[str, str]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


def _lists(args: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    getlist = getattr(args, "getlist", None)
    return [(key, getlist(key) if getlist else [args[key]]) for key in args]
