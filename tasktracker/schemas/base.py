"""What every schema shares: input that refuses unknown fields, the loading of a body (422)
or a query (400) with every failure named, paging, the error shape, and resource paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validates_schema,
)
from marshmallow.validate import Length, Range
from webargs.fields import DelimitedList

from tasktracker.errors import InvalidQuery, ValidationFailed


def path_for(endpoint: str, **values: Any) -> str:
    """A resource's path, with or without a request (a service dumps in the CLI and jobs)."""
    adapter = current_app.extensions.get("tasktracker.paths")
    if adapter is None:  # bound once per app: a page of tasks builds a path per task
        adapter = current_app.url_map.bind("", script_name=current_app.config["APPLICATION_ROOT"])
        current_app.extensions["tasktracker.paths"] = adapter
    return adapter.build(endpoint, values)


class InputSchema(Schema):
    """Unknown fields are errors, never silently dropped."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "Unknown field.", "type": "Must be a JSON object."}


class PaginationQuerySchema(InputSchema):
    """`page`/`per_page` (or their aliases `skip`/`limit`) or an opaque keyset `cursor`."""

    # One way to say where a page starts: `page`, `skip` or `cursor` (400 for two of them).
    page = fields.Integer(
        validate=Range(min=1, max=1_000_000),
        metadata={"description": "Page number, from 1; not with `skip` or `cursor`"},
    )
    per_page = fields.Integer(
        validate=Range(1, 100), metadata={"description": "Items a page (20); not with `limit`"}
    )
    skip = fields.Integer(
        validate=Range(min=0, max=100_000_000),
        metadata={"description": "Items to skip; not with `page` or `cursor`"},
    )
    limit = fields.Integer(
        validate=Range(1, 100), metadata={"description": "Alias of `per_page`; not with it"}
    )
    cursor = fields.String(
        validate=Length(max=1000),
        metadata={
            "description": "Where the `next` link's page starts (opaque: a cursor not given "
            "by the server is a 400); not with `page` or `skip`"
        },
    )

    @validates_schema
    def one_way_to_page(self, data: dict[str, Any], **kwargs: Any) -> None:
        ways = [name for name in ("page", "skip", "cursor") if name in data]
        if len(ways) > 1:
            raise ValidationError(f"Use only one of {', '.join(ways)}.", ways[-1])
        if "per_page" in data and "limit" in data:
            raise ValidationError("Use per_page or limit, not both.", "limit")

    @post_load
    def window(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        per_page = data.pop("limit", None) or data.get("per_page", 20)
        skip = data.pop("skip", None)
        data["per_page"] = per_page
        data["offset"] = skip if skip is not None else (data.get("page", 1) - 1) * per_page
        data["page"] = data["offset"] // per_page + 1
        return data


def page_schema(name: str, item: type[Schema]) -> type[Schema]:
    return Schema.from_dict(
        {
            "items": fields.Nested(item, many=True, required=True),
            "total": fields.Integer(required=True),
            "total_exact": fields.Boolean(
                required=True,
                metadata={
                    "description": "false when `total` is a lower bound: a list filtered by "
                    "more than status and the trash counts at most 1 000 matches"
                },
            ),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "pages": fields.Integer(required=True),
        },
        name=name,
    )


# --- errors ------------------------------------------------------------------------------


class ErrorSchema(Schema):
    """SPEC §6: the one error shape."""

    error = fields.String(required=True)
    code = fields.String(required=True)
    status = fields.Integer(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    request_id = fields.String(required=True, allow_none=True)


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as `{"tags.0": ["..."], "tasks.3.title": ["..."]}`."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            # A nested object's own errors (`_schema`) belong to its path, `tasks.3`.
            name = (prefix.rstrip(".") or "body") if key == "_schema" else f"{prefix}{key}"
            flat.update(_flatten(value, name + "."))
        return flat
    return {prefix.rstrip("."): [str(m) for m in messages]}


def load_body(schema: Schema, data: Any) -> dict[str, Any]:
    """Validate a request body (JSON or form); every failure is a 422 naming the fields."""
    try:
        return schema.load(data)
    except ValidationError as error:
        details = _flatten(error.messages)
        raise ValidationFailed(f"Invalid fields: {', '.join(details)}.", details=details) from None


def load_query(schema: Schema, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate query parameters; every failure is a 400 naming the parameters.

    A parameter given twice is an error unless the schema declares a list (`tag`).
    """
    data: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    getlist = getattr(args, "getlist", lambda key: [args[key]])
    for key in args:
        values = getlist(key)
        field = schema.fields.get(key)
        if isinstance(field, fields.List) and not isinstance(field, DelimitedList):
            data[key] = values
        elif len(values) == 1:
            data[key] = values[0]
        else:
            errors[key] = ["Given more than once."]
    try:
        loaded = schema.load(data)
    except ValidationError as error:
        # Name the parameter itself (`sort`, not `sort.1`): that is what the client wrote.
        for name, messages in _flatten(error.messages).items():
            errors.setdefault(name.split(".")[0], []).extend(messages)
    if errors:
        raise InvalidQuery(f"Invalid query parameters: {', '.join(errors)}.", details=errors)
    return loaded
