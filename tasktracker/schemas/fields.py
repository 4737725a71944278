"""The fields that hold text and numbers to one rule wherever they appear: what text may
contain (no controls, no invisible padding), tag names, email addresses, whole numbers,
times in UTC."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC
from typing import Any

from marshmallow import (
    ValidationError,
    fields,
)
from marshmallow.validate import Length

# Regular-expression classes, written with escapes that Python's re and ECMAScript (the
# OpenAPI document's patterns) read alike. No text field takes C0 or C1 controls (PostgreSQL
# cannot even store NUL); multi-line text keeps tabs and line breaks.
_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# Lone surrogates (JSON can escape them) cannot be encoded as UTF-8. Checked apart from the
# published pattern, which schemathesis and Hypothesis would ignore if it named them.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = r"\t\n\r"
# White space as ECMAScript's \s has it (Python's \s differs, on U+FEFF for one), and the
# characters that show nothing at all: zero-width spaces and joiners, the soft hyphen,
# direction marks, invisible operators, Hangul fillers. What "blank" means and what
# trimming removes.
_SPACE_CHARS = (
    " \t\n\v\f\r\u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)
_INVISIBLE_CHARS = (
    "\u00ad\u034f\u115f\u1160\u180e\u200b\u200c\u200d\u200e\u200f"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2060, 0x2070)))
    + "\u3164\uffa0"
)
_SPACE_CHARS += _INVISIBLE_CHARS
# Blank is only white space and Unicode's default-ignorable characters (which render as
# nothing). Some of those are not trimmed, as at the end of a text they can belong to what
# is shown: variation selectors (❤ and U+FE0F), and tag characters (the flag of Scotland
# ends with U+E007F).
_KEPT_INVISIBLE_CHARS = (
    "\u061c\u17b4\u17b5\u180b\u180c\u180d\u180f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xFFF0, 0xFFF9)))
)
_BLANK = "".join(f"\\u{ord(c):04x}" for c in _SPACE_CHARS + _KEPT_INVISIBLE_CHARS)
# Default-ignorable characters beyond the Basic Multilingual Plane: checked apart from the
# published pattern, which ECMAScript could read only with its `u` flag.
_BLANK_ASTRAL = re.compile(
    f"[{_BLANK}\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]*"
)


class Str(fields.String):
    """Text without control characters (`multiline` keeps tabs and line breaks), not blank
    unless `blank=True`, trimmed of surrounding white space unless `trim=False`.

    The rule is one regular expression, published as the field's `pattern` in the OpenAPI
    document; lengths are checked before trimming, as the document states them.
    """

    def __init__(
        self,
        *,
        trim: bool = True,
        multiline: bool = False,
        blank: bool = False,
        forbid: str = "",
        **kwargs: Any,
    ) -> None:
        controls = _CONTROLS + ("" if multiline else _LINE_BREAKS)
        char = f"[^{controls}{re.escape(forbid)}]"
        pattern = f"{char}*" if blank else f"{char}*[^{_BLANK}{controls}{re.escape(forbid)}]{char}*"
        kwargs.setdefault("metadata", {})["pattern"] = f"^{pattern}$"
        super().__init__(**kwargs)
        self.trim = trim
        self.blank = blank
        self.rule = re.compile(pattern)
        self.controls = re.compile(f"[{controls}]")
        self.forbid = forbid

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _LONE_SURROGATE.search(text):
            raise ValidationError("Must be valid Unicode text.")
        if not self.rule.fullmatch(text):
            if self.controls.search(text):
                raise ValidationError("Must not contain control characters.")
            if self.forbid and any(c in text for c in self.forbid):
                raise ValidationError(f"Must not contain {self.forbid!r}.")
            raise ValidationError("Must not be blank.")
        if not self.blank and _BLANK_ASTRAL.fullmatch(text):
            raise ValidationError("Must not be blank.")
        return text

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        text = super().deserialize(value, attr, data, **kwargs)
        return text.strip(_SPACE_CHARS) if self.trim and isinstance(text, str) else text


class TagName(Str):
    """A tag: 1–50 characters as stored (NFC, lower-case), no commas (forms separate tags
    with them). Tags that look the same are the same tag, whatever the Unicode form they
    were typed in (`café` composed or not); the length is checked again once lower-cased,
    which may lengthen a name (`İ` becomes `i` and a combining dot)."""

    MAX_LENGTH = 50

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=Length(1, self.MAX_LENGTH), forbid=",", **kwargs)

    def deserialize(
        self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any
    ) -> Any:
        name = super().deserialize(value, attr, data, **kwargs)
        if not isinstance(name, str):
            return name
        stored = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).lower())
        if len(stored) > self.MAX_LENGTH:
            raise ValidationError(
                f"Longer than {self.MAX_LENGTH} characters once lower-cased ({len(stored)})."
            )
        return stored


class EmailAddress(fields.Email):
    """An email address, compared case-insensitively: stored trimmed and lower-cased."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)


class WholeNumber(fields.Integer):
    """A JSON integer: `3` or `3.0` (JSON Schema counts both), never `"3"`, `3.5` or `true`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Timestamp(fields.AwareDateTime):
    """An ISO 8601 time, loaded in UTC as the database keeps it (so what a write returns is
    what a read will); one without an offset is taken as UTC. A time that has no UTC
    equivalent within years 1–9999 (`9999-12-31T23:59:59-14:00`) is out of range."""

    default_error_messages = {"range": "Must be between years 1 and 9999 in UTC."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise self.make_error("range") from None
