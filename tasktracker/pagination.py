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

from sqlalchemy import ColumnElement, Select, bindparam, func, select, tuple_

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


@dataclass(frozen=True)
class Window:
    """Where a page starts, as the query asked: at an offset, or after the keyset position
    a cursor carries (`after`). Its values are bound to the page's statement by name."""

    number: int
    per_page: int
    offset: int
    after: Sequence[Any] | None = None

    @property
    def by_cursor(self) -> bool:
        return self.after is not None

    def values(self) -> dict[str, Any]:
        if self.after is None:
            return {"per_page": self.per_page, "offset": self.offset}
        return {"per_page": self.per_page} | {
            f"after_{index}": value for index, value in enumerate(self.after)
        }


def window(keys: Sequence[SortKey], params: Mapping[str, Any]) -> Window:
    """The page `params` (from PaginationQuerySchema) ask for, in the order of `keys`; 400
    for a cursor that is not one this order gives.

    A cursor is a row-value comparison (keyset pagination), which needs every key in one
    direction and none nullable; other orders page by offset only."""
    if "cursor" not in params:
        return Window(params["page"], params["per_page"], params["offset"])
    if not _keyset(keys):
        raise InvalidQuery(
            "This order pages by number; cursors are only given for other orders.",
            details={"cursor": ["Invalid cursor."]},
        )
    position, number = decode_cursor(
        params["cursor"],
        _spec(keys),
        lambda values: [k.parse(v) for k, v in zip(keys, values, strict=True)],
    )
    return Window(number, params["per_page"], 0, position)


def ordered(query: Select[Any], keys: Sequence[SortKey], *, by_cursor: bool) -> Select[Any]:
    """`query` as a page in the order of `keys` (the last of which must be unique), the
    window's values left as parameters (`Window.values`): the statement is the same for
    every page of a list, so it can be built and compiled once."""
    query = query.order_by(*(key.order_by() for key in keys)).limit(bindparam("per_page"))
    if not by_cursor:
        return query.offset(bindparam("offset"))
    # Rows past the position in the keys' (one) direction: a row-value comparison, which
    # the order's index answers as a range scan.
    columns = tuple_(*(key.column for key in keys))
    position = tuple_(
        *(bindparam(f"after_{index}", type_=key.column.type) for index, key in enumerate(keys))
    )
    return query.where(columns < position if keys[0].descending else columns > position)


def page_of(items: Sequence[T], keys: Sequence[SortKey], window: Window, total: Total) -> Page[T]:
    """The page of `items` the window's statement returned, with the cursor to the next."""
    has_next = len(items) == window.per_page and (
        not total.exact or window.number * window.per_page < total.value
    )
    next_cursor = None
    if _keyset(keys) and has_next:
        position = [getattr(items[-1], key.column.key) for key in keys]
        next_cursor = encode_cursor(_spec(keys), position, window.number + 1)
    return Page(
        items, total.value, window.number, window.per_page, has_next, next_cursor, total.exact
    )


def paginate(
    query: Select[Any], total: Total, keys: Sequence[SortKey], params: Mapping[str, Any]
) -> Page[Any]:
    """One page of the ORM entities `query` selects, in the order of `keys`, by `params`."""
    where = window(keys, params)
    page = ordered(query, keys, by_cursor=where.by_cursor)
    return page_of(db.session.scalars(page, where.values()).all(), keys, where, total)


def paginate_rows(
    model: type[Any], where: ColumnElement[bool], keys: Sequence[SortKey], params: Mapping[str, Any]
) -> Page[Any]:
    """One page of `model`'s rows matching `where` (a task's events, its jobs), in the order
    of `keys`, by `params`, with their exact count."""
    total = count(select(func.count()).select_from(model).where(where))
    return paginate(select(model).where(where), total, keys, params)


def first_page(per_page: int) -> dict[str, Any]:
    """The paging parameters of a list's first `per_page` items, as PaginationQuerySchema
    loads them (for a caller that asks for no particular page: the pages)."""
    return {"page": 1, "per_page": per_page, "offset": 0}


def _keyset(keys: Sequence[SortKey]) -> bool:
    return len({key.descending for key in keys}) == 1 and not any(k.nullable for k in keys)


def _spec(keys: Sequence[SortKey]) -> str:
    return ",".join(key.spec for key in keys)


def count(query: Select[Any]) -> Total:
    """The exact number of rows `query` (a SELECT count(*)) counts."""
    return Total(db.session.scalar(query) or 0)


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
