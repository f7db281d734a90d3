"""Mask personal data in utterances before they are stored, embedded or sent to a model.

Masking replaces a value with its kind ("[EMAIL]", "[CARD]", "[PHONE]", "[ACCOUNT]") rather than
deleting it, so "my card [CARD] was declined" still clusters with other card problems. The patterns
lean towards leaving numbers alone unless their shape is unmistakable: amounts, dates, times, order
numbers and the last four digits of a card are what customers talk about, and masking them would
destroy the intent signal.
"""

import re
from collections.abc import Callable

_EMAIL = re.compile(r"[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

# 13-19 digits written as one run or in the 4-4-4-x and 4-6-5 groups printed on cards.
_CARD = re.compile(
    r"(?<!\d)(?<!\d[.,])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?!\d|[.,]\d)"
)

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")

# The digits that follow "account"/"acct"/"IBAN" (optionally "number"/"no."/"#" and "is"/":").
# Five digits or more, so "account ending in 4321" keeps its last-4 digits.
_ACCOUNT_AFTER_KEYWORD = re.compile(
    r"\b(?P<keyword>account|acct|iban)(?P<filler>\.?\s*(?:number|num|no\.?|#)?\s*(?:is\s+|:\s*)?)"
    r"\d(?:[ -]?\d){4,33}(?!\d)",
    re.IGNORECASE,
)

_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}"  # +44 20 7946 0958, +1 (202) 555-0143
    r"|(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # (202) 555-0143, 1-800-555-0199
    r"|\d{3}[.-]\d{4}"  # 555-0143
    r")(?![\w/])"
)

# Not part of a longer figure such as an amount ("1,234,567,890.50") or a date.
_ACCOUNT_RUN = re.compile(r"(?<!\d)(?<!\d[.,/:-])\d{8,12}(?!\d|[.,/:-]\d)")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    # The Luhn check keeps long order or tracking numbers from being taken for cards.
    return "[CARD]" if _luhn_valid(re.sub(r"\D", "", match[0])) else match[0]


def _mask_account_after_keyword(match: re.Match[str]) -> str:
    return f"{match['keyword']}{match['filler']}[ACCOUNT]"


def _mask_phone(match: re.Match[str]) -> str:
    return "[PHONE]" if sum(char.isdigit() for char in match[0]) >= 7 else match[0]


# Order matters: emails first (their digits are not numbers), cards before phones and accounts
# (a grouped card number also looks like a phone number), keyword accounts before bare phones.
_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_EMAIL, "[EMAIL]"),
    (_CARD, _mask_card),
    (_IBAN, "[ACCOUNT]"),
    (_ACCOUNT_AFTER_KEYWORD, _mask_account_after_keyword),
    (_PHONE, _mask_phone),
    (_ACCOUNT_RUN, "[ACCOUNT]"),
)


def mask_pii(text: str) -> str:
    """`text` with emails, card, phone and account numbers replaced by placeholders."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
