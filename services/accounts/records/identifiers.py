"""Normalised identifiers: email addresses (email-validator) and phone numbers in E.164
(phonenumbers). Lookups and merges compare these forms only."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class IdentifierError(ValueError):
    pass


def normal_email(value: str) -> str:
    """The address as stored and compared: the domain in lower case (IDNA), the local part as
    given except for case (providers treat it case-insensitively in practice)."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise IdentifierError(f"not a valid email address: {exc}") from None
    return str(checked.normalized).lower()


def normal_phone(value: str, region: str | None = None) -> str:
    """E.164 (`+4915112345678`); a number without `+` needs a region such as `DE`."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise IdentifierError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise IdentifierError("not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
