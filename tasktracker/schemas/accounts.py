"""Accounts and API tokens: what registration, a password change and a token request may
say, and a user and a token as clients see them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    pre_load,
    validates_schema,
)
from marshmallow.validate import Length, Range

from tasktracker.schemas.base import InputSchema
from tasktracker.schemas.fields import EmailAddress, Str, WholeNumber


def _password(**kwargs: Any) -> Str:
    """A password: any characters but control ones, kept exactly as typed."""
    return Str(trim=False, blank=True, required=True, **kwargs)


class RegistrationSchema(InputSchema):
    email = EmailAddress(required=True, validate=Length(max=254))
    password = _password(validate=Length(8, 1024))
    name = Str(required=True, validate=Length(1, 100))


class PasswordResetSchema(InputSchema):
    new_password = _password(validate=Length(8, 1024))


class PasswordChangeSchema(PasswordResetSchema):
    """The account page's form: the current password, and the new one typed twice (there
    is no reset by email, so a typo must not lock its owner out)."""

    current_password = _password(validate=Length(max=1024))
    new_password_again = _password()

    @validates_schema
    def typed_twice(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("new_password") != data.get("new_password_again"):
            raise ValidationError("The two new passwords differ.", "new_password_again")


class UserSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)


class TokenRequestSchema(InputSchema):
    name = Str(validate=Length(1, 100), load_default="API token")
    expires_in_days = WholeNumber(validate=Range(1, 3650), allow_none=True, load_default=None)


class TokenFormSchema(TokenRequestSchema):
    """The same rules for the HTML form: the expiry arrives as a string, empty for never."""

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        fields = dict(data)
        days = fields.get("expires_in_days")
        if days == "":
            fields["expires_in_days"] = None
        elif isinstance(days, str) and days.strip().isdigit():
            fields["expires_in_days"] = int(days)
        if fields.get("name") == "":
            del fields["name"]
        return fields


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(required=True, allow_none=True)
    expires_at = fields.AwareDateTime(required=True, allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(
        required=True, attribute="secret", metadata={"description": "Shown only in this response"}
    )
