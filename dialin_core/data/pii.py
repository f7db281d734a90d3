"""Mask personal data in utterances before they are stored, embedded, sent to a served model or exported.

Masking replaces a value with its kind ("[EMAIL]", "[PHONE]", "[PERSON]", ...) rather than deleting it,
so "my card [CARD] was declined" still clusters with other card problems. Where a well-kept library
knows a kind, it decides: `phonenumbers` (Google's libphonenumber) finds phone numbers valid in any of
the regions below, in national and international forms; `python-stdnum` checks IBAN (mod 97) and US
social security numbers; `ipaddress` checks IP addresses; cards pass the Luhn check. Person names,
street addresses and dates of birth have no checksum: they are found by their context ("my name is",
"this is ... speaking", a title; a house number before a street word, "I live at"; a date near a word about
birth, or a whole date decades old), the way Presidio's context-enhanced recognisers work, and names with no
cue by Faker's lists of first and last names (a listed first name, capitalised, before a listed last name),
because no package ships an NER model that runs offline here with weights from its authors.

The rules lean towards leaving numbers alone unless their shape is unmistakable: amounts, dates, times,
order and reference numbers and the last four digits of a card are what customers talk about, and masking
them would destroy the intent signal. `bench/pii.py` measures recall per kind on a seeded synthetic set
and the false positives on BANKING77 test.
"""

import importlib
import ipaddress
import pkgutil
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache

PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]", "card": "[CARD]", "iban": "[ACCOUNT]", "account": "[ACCOUNT]", "ssn": "[SSN]", "ip": "[IP]",
    "phone": "[PHONE]", "dob": "[DOB]", "address": "[ADDRESS]", "person": "[PERSON]",
}
# Regions whose national phone formats are recognised without a country code (international forms, "+49 ..."
# or "0049 ...", are recognised for every country).
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "AU", "CN")


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    kind: str


_EMAIL = re.compile(r"[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13-19 digits written as one run or in the 4-4-4-x and 4-6-5 groups printed on cards.
_CARD = re.compile(
    r"(?<!\d)(?<!\d[.,])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?!\d|[.,]\d)"
)
# Country code, check digits, then groups of four or one run; any case. Validated by its checksum.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?|[A-Za-z0-9]{11,30})\b")
# The digits that follow "account"/"acct" (optionally "number"/"no."/"#" and "is"/":"). Five digits or more,
# so "account ending in 4321" keeps its last-4 digits.
_ACCOUNT_AFTER_KEYWORD = re.compile(
    r"\b(?:account|acct|iban)\.?\s*(?:number|num|no\.?|#)?\s*(?:is\s+|:\s*)?(?P<value>\d(?:[ -]?\d){4,33})(?!\d)", re.IGNORECASE
)
# A bare run of 8-12 digits, not part of a longer figure such as an amount or a date ...
_ACCOUNT_RUN = re.compile(r"(?<!\d)(?<!\d[.,/:-])\d{8,12}(?!\d|[.,/:-]\d)")
# ... unless a word says what it is: an order or a reference number is no personal data, and the intent's word.
_NOT_PERSONAL = re.compile(r"\b(?:order|reference|ref|tracking|ticket|confirmation|booking|case|invoice|parcel|transaction)"
                           r"\s*(?:number|num|no\.?|id|#)?\s*(?:is\s+|:\s*)?$", re.IGNORECASE)
_SSN = re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
_SSN_AFTER_KEYWORD = re.compile(r"\b(?:ssn|social security(?: number| no\.?)?)\s*(?:is\s+|:\s*|#\s*)?(?P<value>\d{9})\b", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")
# A 555-0143 local number, which libphonenumber cannot place in a region.
_LOCAL_PHONE = re.compile(r"(?<![\w+./-])\d{3}[.-]\d{4}(?![\w/]|[.-]\d)")

_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE = (rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{4}}[/.-]\d{{1,2}}[/.-]\d{{1,2}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?,?\s+\d{{4}}"
         rf"|{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})")
# A word about birth (birth, birthday, birthdate, date-of-birth, born, DOB) up to three words before or after
# a date: the cue's morphology, not a list of phrasings, which the phrasings of the next caller always escape.
_BIRTH = r"(?:\w*birth\w*|\w*born|d\.?o\.?b)"
_DOB = re.compile(rf"\b{_BIRTH}(?:\W+\w+){{0,3}}?\W*?(?P<value>{_DATE})|(?P<before>{_DATE})(?:\W+\w+){{0,3}}?\W+{_BIRTH}\b",
                  re.IGNORECASE)
_FULL_DATE = re.compile(rf"(?<![\w/.-]){_DATE}(?![\w/-]|\.\d)", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
# A whole date (day, month and a four-digit year) of a year at least this long ago is taken for a date of birth
# with no cue at all: what customers date in a contact centre (payments, deliveries, bookings) is recent, while
# a security question is answered with a date decades old.
ADULT_YEARS = 16

_STREET_WORDS = ("street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|terrace|close|crescent|"
                 "square|sq|parkway|pkwy|highway|hwy|grove|gardens|row|mews|hill|walk")
_WORD = r"[A-Za-z][A-Za-z'-]*"
# 221B Baker Street, 1600 Pennsylvania Avenue NW, 10 downing st, flat 3, 12 High Road, London
_STREET = re.compile(
    rf"(?<![\w$£€])\d{{1,5}}[A-Za-z]?,?\s+(?:{_WORD}\s+){{0,3}}(?:{_STREET_WORDS})\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    rf"(?:,?\s+(?:apt|apartment|flat|unit|suite)\.?\s*#?\w+)?", re.IGNORECASE)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")  # UK postcodes: an unmistakable shape
# What follows "I live at" or "my address is", up to the end of the clause.
_ADDRESS_AFTER_CUE = re.compile(r"\b(?:i\s+live\s+at|my\s+(?:home\s+|new\s+|postal\s+)?address\s+is|address\s*:|moved\s+to|reside\s+at)\s+"
                                r"(?P<value>[^.!?;]{4,80}?)(?=\s*(?:[.!?;]|$|\s+(?:and|but|please|can|could|so|because)\b))",
                                re.IGNORECASE)

_UPPER, _LOWER = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"  # Latin letters with the diacritics of European names
_NAME_WORD = rf"[{_UPPER}][{_LOWER}]*(?:['’-][{_UPPER}]?[{_LOWER}]+)*"  # Anna, O'Brien, Müller, Jean-Luc
_LOWER_NAME_WORD = rf"[{_LOWER}]{{2,}}(?:['’-][{_LOWER}]+)*"
# Words a cue is often followed by that are not names (start of a sentence, places, days).
_NOT_NAMES = frozenset(
    "I The A An My Your Our Their This That It Is Not Just Calling Here Regarding About Sorry Hello Hi Hey Please Thanks Thank "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday Today Tomorrow Yesterday Customer Support Service Bank "
    "Someone Anyone Somebody Nobody Everyone Account Card I'm I've I'd As Will Do Does Did Is Are Can Could Would Should What Why "
    "How When Where Who Which New Trying Having Looking Wondering Writing Back Still Also Very Really".split()
)
_NAME_STOP = frozenset("and or but please i my me the a an to for from with about is am was calling here speaking again so on at in "
                       "of by back later now soon today tomorrow tonight when if asap first last".split())
# "my name is", "name's", "call me", "speak to", "ask for", "this is ... speaking/here", titles, "name:"
_PERSON_AFTER_CUE = re.compile(
    rf"\b(?:my\s+(?:full\s+|first\s+|last\s+)?name\s+is|name's|name\s*:|call\s+me|(?:speak|talk)\s+(?:to|with)|ask\s+for|"
    rf"account\s+holder\s+is|holder's\s+name\s+is|this\s+is|it's|it\s+is)\s+"
    rf"(?P<value>(?:{_NAME_WORD}|{_LOWER_NAME_WORD})(?:\s+(?:{_NAME_WORD}|{_LOWER_NAME_WORD})){{0,2}})", re.IGNORECASE)
# "Anna Smith is the name on the card": a full name before the words that say it is one
_PERSON_BEFORE_CUE = re.compile(rf"(?P<value>{_NAME_WORD}\s+{_NAME_WORD}(?:\s+{_NAME_WORD})?)\s+(?:is|was)\s+(?:the\s+)?"
                                r"(?:name\s+on|account\s+holder|card\s*holder|my\s+name)")
# A capitalised name after the words that introduce a person: relations, greetings, "I'm", "spoke to" (case-sensitive:
# "my son is ill" names nobody)
_PERSON_AFTER_RELATION = re.compile(
    rf"(?i:\b(?:my\s+(?:husband|wife|son|daughter|mother|mum|mom|father|dad|partner|friend|brother|sister|colleague|boss)"
    rf"|dear|hello|hi|hey|i'm|i\s+am|under\s+the\s+name|spoke\s+(?:to|with)))\s*,?\s+(?P<value>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})")
# "Anna Smith here", "Lukas speaking"
_PERSON_BEFORE_HERE = re.compile(rf"(?P<value>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}),?\s+(?:here|speaking)\b")
_NOT_NAME_WORDS = frozenset(
    "Apple Google Samsung Pay PayPal Visa Mastercard Master Card American Express Amex Western Union Euro Euros Europe European "
    "Pound Pounds Dollar Dollars US USA UK EU Bank Banking App Store Play Android iPhone Revolut Monzo Amazon Uber Netflix "
    "Spotify Facebook Microsoft Windows Internet Wi-Fi Wifi ATM PIN SEPA SWIFT Swift Bitcoin Ethereum Crypto".split()
    + [m.capitalize() for m in ("january february march april may june july august september october november december")
       .split()]
)
_TITLE = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Mister)\.?\s+(?P<value>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})")
# "this is" and "it's" take a name only in the forms a caller introduces themselves with.
_SELF_INTRODUCTION = re.compile(r"\b(?:this\s+is|it's|it\s+is)\s+$", re.IGNORECASE)
_CAPITALISED_NAME = re.compile(rf"{_NAME_WORD}(?:\s+{_NAME_WORD})*")


def _checked_iban(match: re.Match[str]) -> tuple[int, int] | None:
    """The longest prefix of the match (whole groups) that passes the IBAN checksum."""
    from stdnum import iban

    text = match[0]
    while len(re.sub(r"\s", "", text)) >= 15:
        # the international mod-97 check; a country's own account-number check would add nothing to masking
        if _valid_iban(iban, text):
            return match.start(), match.start() + len(text)
        text = text.rsplit(" ", 1)[0] if " " in text else text[:-1]
    return None


def _valid_iban(iban, text: str) -> bool:
    try:
        iban.validate(text, check_country=False)
    except ValueError:
        return False
    return True


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _emails(text: str) -> Iterator[Span]:
    yield from (Span(m.start(), m.end(), "email") for m in _EMAIL.finditer(text))


def _cards(text: str) -> Iterator[Span]:
    # The Luhn check keeps long order or tracking numbers from being taken for cards.
    yield from (Span(m.start(), m.end(), "card") for m in _CARD.finditer(text) if _luhn_valid(re.sub(r"\D", "", m[0])))


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN.finditer(text):
        found = _checked_iban(match)
        if found:
            yield Span(*found, "iban")


def _ssns(text: str) -> Iterator[Span]:
    from stdnum.us import ssn

    yield from (Span(m.start(), m.end(), "ssn") for m in _SSN.finditer(text) if ssn.is_valid(re.sub(r"\D", "", m[0])))
    yield from (Span(m.start("value"), m.end("value"), "ssn") for m in _SSN_AFTER_KEYWORD.finditer(text))


def _named_accounts(text: str) -> Iterator[Span]:
    yield from (Span(m.start("value"), m.end("value"), "account") for m in _ACCOUNT_AFTER_KEYWORD.finditer(text))


def _bare_accounts(text: str) -> Iterator[Span]:
    for match in _ACCOUNT_RUN.finditer(text):
        if not _NOT_PERSONAL.search(text[: match.start()]):
            yield Span(match.start(), match.end(), "account")


def _ips(text: str) -> Iterator[Span]:
    for match in (*_IPV4.finditer(text), *_IPV6.finditer(text)):
        try:
            ipaddress.ip_address(match[0])
        except ValueError:
            continue
        yield Span(match.start(), match.end(), "ip")


@cache
def _phone_library():
    import phonenumbers

    return phonenumbers


def _phones(text: str) -> Iterator[Span]:
    if sum(c.isdigit() for c in text) < 7:  # no phone number has fewer digits; most utterances end here
        return
    phonenumbers = _phone_library()
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            if not _NOT_PERSONAL.search(text[: match.start]):  # "tracking number 1234567890" dials somewhere too
                yield Span(match.start, match.end, "phone")
    for match in _LOCAL_PHONE.finditer(text):
        yield Span(match.start(), match.end(), "phone")


def _dates_of_birth(text: str) -> Iterator[Span]:
    for match in _DOB.finditer(text):
        group = "value" if match.group("value") else "before"
        yield Span(match.start(group), match.end(group), "dob")
    latest = date.today().year - ADULT_YEARS
    for match in _FULL_DATE.finditer(text):
        year = _YEAR.search(match.group())
        if year and 1900 <= int(year.group()) <= latest:
            yield Span(match.start(), match.end(), "dob")


def _addresses(text: str) -> Iterator[Span]:
    yield from (Span(m.start(), m.end(), "address") for m in _STREET.finditer(text))
    yield from (Span(m.start(), m.end(), "address") for m in _POSTCODE.finditer(text))
    for match in _ADDRESS_AFTER_CUE.finditer(text):
        value = match["value"].rstrip(" ,")
        yield Span(match.start("value"), match.start("value") + len(value), "address")


def _name_words(value: str) -> str:
    """The leading words of a cue's capture that can be a name: up to the first word that is not one."""
    kept: list[str] = []
    for word in value.split():
        if word.lower() in _NAME_STOP or word in _NOT_NAMES:
            break
        kept.append(word)
    return " ".join(kept)


def _persons(text: str) -> Iterator[Span]:
    for match in _PERSON_AFTER_CUE.finditer(text):
        value = _name_words(match["value"])
        if not value:
            continue
        cue = text[match.start() : match.start("value")]
        # "this is Anna" but not "this is urgent": a self-introduction needs a capitalised name
        if _SELF_INTRODUCTION.search(cue) and not _CAPITALISED_NAME.fullmatch(value):
            continue
        yield Span(match.start("value"), match.start("value") + len(value), "person")
    for pattern in (_TITLE, _PERSON_BEFORE_CUE, _PERSON_AFTER_RELATION, _PERSON_BEFORE_HERE):
        for match in pattern.finditer(text):
            value = _name_words(match["value"])
            if value and not any(word in _NOT_NAME_WORDS or word in _NOT_NAMES for word in value.split()):
                yield Span(match.start("value"), match.start("value") + len(value), "person")


# Faker's person providers, every locale it has: the first and last names people are given and called, a name
# list kept and versioned with a well-kept package. Only names in Latin letters are kept (romanised ones where a
# locale has them), as the transcripts this rule reads are written.
_PLACE_WORDS = frozenset("Hill Hills Park Square Plaza Hall Field Fields Bridge Heights Beach Valley Springs Center Centre "
                         "Street Avenue Road Lane Garden Gardens".split())
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'’-]*")


@cache
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) of every Faker locale, in Latin letters."""
    import faker.providers.person

    first: set[str] = set()
    last: set[str] = set()
    for locale in pkgutil.iter_modules(faker.providers.person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{locale.name}").Provider
        for attribute in dir(provider):
            names = getattr(provider, attribute)
            if not isinstance(names, (tuple, list, dict)) or not attribute.endswith(("_names", "_names_male", "_names_female")):
                continue
            names = {n for n in names if _latin(n)}
            if attribute.startswith("first_"):
                first |= names
            elif attribute.startswith("last_"):
                last |= names
    places = {word.capitalize() for word in _STREET_WORDS.split("|")} | _PLACE_WORDS  # "Allen Street" is a street
    return frozenset(first - _NOT_NAME_WORDS - _NOT_NAMES), frozenset(last - _NOT_NAME_WORDS - _NOT_NAMES - places)


def _latin(name: object) -> bool:
    return isinstance(name, str) and all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in name)


def _listed_names(text: str) -> Iterator[Span]:
    """A capitalised first name of the lists followed by a capitalised last name of the lists ("transfer 50 to
    Priya Patel"), wherever it stands: the names no cue introduces. Both words must be listed and capitalised, so
    "Direct Debit" and "Grace period" are no one."""
    first, last = name_lists()
    tokens = list(_NAME_TOKEN.finditer(text))
    for this, following in zip(tokens, tokens[1:]):
        between = text[this.end() : following.start()]
        if (between.isspace() and len(between) <= 2 and this[0][0].isupper() and following[0][0].isupper()
                and this[0] in first and following[0] in last):
            yield Span(this.start(), following.end(), "person")


# Earlier finders win where spans overlap: an IBAN holds a card-like run of digits, a card also fits the phone
# and account shapes, an email's digits are no phone number, a checked number is surer than a context pattern.
FINDERS: tuple[Callable[[str], Iterator[Span]], ...] = (
    _emails, _ibans, _cards, _ssns, _ips, _dates_of_birth, _named_accounts, _phones, _bare_accounts, _addresses, _persons,
    _listed_names,
)


def find_pii(text: str) -> list[Span]:
    """The personal data in `text`, in order, no two spans overlapping."""
    taken: list[Span] = []
    for finder in FINDERS:
        for span in sorted(set(finder(text)), key=lambda s: (s.start, -s.end)):
            if span.end > span.start and not any(span.start < t.end and t.start < span.end for t in taken):
                taken.append(span)
    return sorted(taken)


@lru_cache(maxsize=100_000)
def mask_pii(text: str) -> str:
    """`text` with each piece of personal data replaced by its kind's placeholder. Cached: the Export page
    masks a run's every utterance on each redraw (about 0.6 ms each), and the text does not change between."""
    for span in reversed(find_pii(text)):
        text = text[: span.start] + PLACEHOLDERS[span.kind] + text[span.end :]
    return text
