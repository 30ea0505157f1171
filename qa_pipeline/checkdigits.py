"""Check digits and formats of the numbers redaction looks for: mainland ID (GB 11643-1999),
Luhn card numbers, mainland mobiles, US SSNs.  Pure functions of a digit string
(:mod:`qa_pipeline.numbers` finds the strings in transcripts)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def cn_id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_valid_cn_id(number: str) -> bool:
    """18-char mainland ID: region digit, real birth date, matching check char."""
    if len(number) != 18 or not ascii_digits(number[:17]):
        return False
    if number[0] not in "123456" and number[:2] not in ("81", "82", "83"):
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    return number[17].upper() == cn_id_check_char(number[:17])


def luhn_valid(number: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    if not number or not ascii_digits(number):
        return False
    return _luhn_sum(number) % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that, appended to ``partial``, makes a Luhn-valid number."""
    return str((10 - _luhn_sum(partial + "0") % 10) % 10)


def _luhn_sum(number: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


#: Issuer prefixes of the short (13-15 digit) card schemes: Visa, Diners, Amex, JCB.
_SHORT_CARD_PREFIXES: Mapping[int, tuple[str, ...]] = {
    13: ("4",),
    14: ("30", "36", "38", "39"),
    15: ("34", "37", "1800", "2131"),
}


def is_valid_card(number: str, *, cued: bool = False) -> bool:
    """13-19 digits, Luhn-valid, not one repeated digit.

    A 13-15 digit string also needs a short-scheme issuer prefix unless a card
    cue word is near (``cued``): one in ten random numbers passes Luhn.
    """
    if not 13 <= len(number) <= 19 or len(set(number)) == 1 or not luhn_valid(number):
        return False
    return len(number) >= 16 or cued or number.startswith(_SHORT_CARD_PREFIXES[len(number)])


_MOBILE_RE = re.compile(r"(?:86)?1[3-9][0-9]{9}")


def is_valid_mobile(number: str) -> bool:
    """Mainland mobile: 1[3-9] + 9 digits, optionally after the 86 country code."""
    return _MOBILE_RE.fullmatch(number) is not None


def is_valid_ssn(number: str) -> bool:
    """9-digit SSN with a possible area (not 000/666/9xx), group and serial."""
    if len(number) != 9 or not ascii_digits(number):
        return False
    area, group, serial = number[:3], number[3:5], number[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ascii_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


__all__ = [
    "ascii_digits",
    "cn_id_check_char",
    "is_valid_card",
    "is_valid_cn_id",
    "is_valid_mobile",
    "is_valid_ssn",
    "luhn_check_digit",
    "luhn_valid",
]
