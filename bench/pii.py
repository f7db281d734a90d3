"""PII masking: recall per kind on a seeded synthetic set, and false positives on BANKING77 test.

Usage: .venv/bin/python bench/pii.py [--templates dev|held-out|fresh|fresh-dob|fresh-person] [--per-kind N] [--seed S] [--json] [--misses]

The synthetic set puts generated values (valid card numbers, IBANs with their check digits, phone numbers
libphonenumber calls valid, names from several languages' name lists, street addresses, dates of birth,
IP addresses, SSNs) into templates a caller might say, several per kind, with and without the cue words
the masker reads, in capitalised and lowercase writing. A value counts as caught when none of its words
(runs of letters or digits) is left in the masked text, beyond the words the template itself has:
masking half a name leaves the other half to identify a person. Three template sets: `dev`, which the rules
were written and corrected against (an in-sample figure); `held-out`, written after the rules, whose misses
(names after "I'm" or "my husband") then extended them, so it is in-sample too; and `fresh`, written after
that and run once, the honest figure. False positives: the share of BANKING77 test queries the
masker changes at all (they hold no personal data).
"""

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dialin_core.data.pii import mask_pii  # noqa: E402

BANKING77_TEST = REPO.parent / "shared" / "data" / "banking77" / "test.csv"
FIRST = ["James", "Maria", "Wei", "Aisha", "Olivia", "Mohammed", "Sofia", "Hiroshi", "Priya", "Lukas", "Chloe", "Mateo", "Fatima",
         "Ivan", "Emma", "Kwame", "Ana", "Noah", "Mei", "Rahul"]
LAST = ["Smith", "Garcia", "Zhang", "Khan", "Johnson", "Müller", "Rossi", "Tanaka", "Patel", "O'Brien", "Dubois", "Kowalski",
        "Nguyen", "Silva", "Andersson", "Okafor", "Fernández", "Brown", "Ivanova", "Cohen"]
STREETS = ["Baker", "High", "Maple", "Oak", "Church", "Station", "Victoria", "Elm", "Park", "Mill", "King", "Queen"]
SUFFIXES = ["Street", "Road", "Avenue", "Lane", "Drive", "Close", "Way", "St", "Rd", "Ave"]
CITIES = ["London", "Springfield", "Leeds", "Austin", "Dublin", "Boston", "Bristol", "Denver"]
POSTCODES = ["SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "EC1A 1BB"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
PHONE_FORMS = [("US", "+1 ({a}) {b}-{c}"), ("US", "{a}-{b}-{c}"), ("US", "({a}) {b} {c}"), ("GB", "+44 20 7{b} {c}"),
               ("GB", "020 7{b} {c}"), ("GB", "07{d} {e}"), ("DE", "0049 30 {f}"), ("DE", "+49 30 {f}"), ("FR", "+33 1 {g}"),
               ("FR", "01 {g}"), ("IN", "+91 9{h}")]

TEMPLATES: dict[str, list[str]] = {
    "person": ["my name is {v}", "hi, this is {v} speaking", "this is {v}, I need help with my card", "can I speak to {v}?",
               "please ask for {v} when you call back", "Mr {last} called about the refund", "name: {v}", "my name is {lower}",
               "the account holder is {v}", "it's {first} here, my card is blocked", "call me {first}",
               "{v} is the name on the card"],
    "address": ["I live at {v}", "my address is {v}, {city}", "please send the new card to {v}", "I moved to {v} last month",
                "my address is {v} {postcode}", "i live at {lower}", "the card went to {v}, {city} {postcode} by mistake",
                "deliver it to {v} please"],
    "dob": ["my date of birth is {v}", "I was born on {v}", "DOB: {v}", "born {v}", "my birthday is {v}", "date of birth {v} if you need it"],
    "ssn": ["my ssn is {v}", "social security number {v}", "SSN: {compact}", "it's {v}, my social"],
    "ip": ["my IP is {v}", "I logged in from {v}", "the login came from {v} which is not me"],
    "iban": ["my IBAN is {v}", "send it to {v} please", "iban {lower}", "transfer to {compact}"],
    "card": ["my card {v} was declined", "card number {v}", "I was charged twice on {v}"],
    "account": ["my account number is {v}", "acct {v}", "account #{v} is frozen"],
    "phone": ["call me on {v}", "my number is {v}", "you can reach me at {v} tomorrow", "text {v} when it ships"],
    "email": ["mail me at {v}", "my email is {v}", "send the statement to {v} please"],
}
# Written after the rules were, and never used to change them: what the rules make of phrasings they were not
# written against (the templates above were, so their recall is an in-sample figure).
HELD_OUT: dict[str, list[str]] = {
    "person": ["Hello, {v} here", "I'm {v} and my card is lost", "the card belongs to my husband {v}", "Dear {v},",
               "my wife {first} made the payment", "Ms {last} from accounts", "put it under the name {v}", "{v} speaking, hi",
               "you spoke to my son, {first}", "my full name is {v}"],
    "address": ["ship it to {v}, {city}", "my old address was {v}", "we are at {v} near the station", "{v}, {city} {postcode}",
                "the house at {v} is mine", "update my address to {v}"],
    "dob": ["I was born in {v}", "birth date: {v}", "my DOB is {v}", "date of birth - {v}"],
    "ssn": ["SSN {v}", "my social security no. is {v}", "ss number {v}"],
    "ip": ["ip address {v}", "connection from {v} blocked", "({v})"],
    "iban": ["IBAN: {v}", "my iban number is {lower}", "pay {compact} please"],
    "card": ["{v} is my card", "card: {v}", "use the card {v} instead"],
    "account": ["account no. {v}", "my acct number is {v}", "acct# {v}"],
    "phone": ["phone: {v}", "my mobile is {v}", "{v} is my number", "ring me at {v}"],
    "email": ["email: {v}", "{v} is my address", "contact {v}"],
}
# The held-out set's person names scored 0.20 with the rules of then, and the rules were extended from what it
# missed, so it too became in-sample. This set was written after that and run once: its figures are the honest ones.
FRESH: dict[str, list[str]] = {
    "person": ["{first} {last} from accounting called", "my daughter {first} lost her card", "Can you tell {v} to call me?",
               "signed, {v}", "the payee is {v}", "transfer 50 to {v}", "it was {first} who took the money",
               "good morning, {v} calling about my loan"],
    "address": ["my flat is at {v}", "post it to {v}, {city}", "{v} is where I live", "new address: {v}"],
    "dob": ["I'm born {v}", "date-of-birth {v}", "birthdate {v}"],
    "ssn": ["my ssn: {v}", "SSN is {v}"],
    "ip": ["IPv4 {v}", "from ip {v} today"],
    "iban": ["account IBAN {v}", "my IBAN - {compact}"],
    "card": ["my visa {v}", "charge {v}"],
    "account": ["account number: {v}", "my account is {v}"],
    "phone": ["tel {v}", "number: {v}", "whatsapp me on {v}"],
    "email": ["e-mail {v}", "reply to {v}"],
}
# Dates of birth scored 0.34 on the fresh set, and its misses were a way of writing the cue each time. This set
# was written after that and before the rules for dates of birth changed, and run once after: some put the cue
# after the date or leave it out (a security question answered with a date).
FRESH_DOB: dict[str, list[str]] = {
    "dob": ["{v} is my date of birth", "DoB={v}", "my birth date's {v}", "Birthday: {v}", "I was born {v} in Leeds",
            "date of birth (dd/mm/yyyy) {v}", "to verify: {v}", "security check, it's {v}", "born on {v}", "my son was born {v}"],
}
# Person names scored 0.125 on the fresh set: by context they are found only after the words the rules know.
# This set was written after that and before names were looked up in name lists, and run once after.
FRESH_PERSON: dict[str, list[str]] = {
    "person": ["I'm calling for {v} about her account", "{v} here, my card is blocked", "the account holder is {v}",
               "please update the name to {v}", "{v} and I share the account", "refund it to {v} please",
               "my landlord {v} never got the rent", "can I speak with {v}", "Hello, {v}.", "a payment from {v} is missing"],
}
TEMPLATE_SETS = {"dev": TEMPLATES, "held-out": HELD_OUT, "fresh": FRESH, "fresh-dob": FRESH_DOB, "fresh-person": FRESH_PERSON}
IBAN_BODIES = {"GB": "WEST{:014d}", "DE": "{:018d}", "FR": "{:023d}", "NL": "ABNA{:010d}", "ES": "{:020d}"}


def luhn_complete(prefix: str) -> str:
    """`prefix` and the check digit that makes it pass Luhn."""
    for check in "0123456789":
        digits = prefix + check
        total = sum((int(c) * (2 if i % 2 else 1)) - (9 if int(c) * (2 if i % 2 else 1) > 9 else 0) for i, c in enumerate(reversed(digits)))
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def value(kind: str, rng: random.Random) -> tuple[str, dict[str, str]]:
    """A generated value of `kind` and the other fields its templates read."""
    if kind == "person":
        first, last = rng.choice(FIRST), rng.choice(LAST)
        full = f"{first} {last}"
        return full, {"first": first, "last": last, "lower": full.lower()}
    if kind == "address":
        street = f"{rng.randint(1, 999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
        return street, {"city": rng.choice(CITIES), "postcode": rng.choice(POSTCODES), "lower": street.lower()}
    if kind == "dob":
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1940, 2005)
        forms = [f"{day:02d}/{month:02d}/{year}", f"{year}-{month:02d}-{day:02d}", f"{day} {MONTHS[month - 1]} {year}",
                 f"{MONTHS[month - 1]} {day}, {year}", f"{day}.{month}.{year}"]
        return rng.choice(forms), {}
    if kind == "ssn":
        area, group, serial = rng.randint(100, 665), rng.randint(10, 99), rng.randint(1000, 9999)
        separator = "-" if rng.random() < 0.6 else " "
        return f"{area}{separator}{group}{separator}{serial}", {"compact": f"{area}{group}{serial}"}
    if kind == "ip":
        if rng.random() < 0.7:
            return ".".join(str(rng.randint(1, 254)) for _ in range(4)), {}
        return ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8)), {}
    if kind == "iban":
        from stdnum import iban

        country = rng.choice(list(IBAN_BODIES))
        body = IBAN_BODIES[country].format(rng.randint(0, 10**10))
        compact = country + iban.calc_check_digits(country + "00" + body) + body
        grouped = " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
        return grouped, {"compact": compact, "lower": grouped.lower()}
    if kind == "card":
        prefix = rng.choice(["4", "51", "55", "4000"])
        number = luhn_complete(prefix + "".join(rng.choice("0123456789") for _ in range(15 - len(prefix))))
        return (" ".join(number[i : i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else number), {}
    if kind == "account":
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 12))), {}
    if kind == "phone":
        return phone(rng), {}
    if kind == "email":
        first, last = rng.choice(FIRST).lower(), re.sub(r"[^a-z]", "", rng.choice(LAST).lower()) or "x"
        return f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(['example.com', 'mail.co.uk', 'post.de'])}", {}
    raise ValueError(kind)


def phone(rng: random.Random) -> str:
    """A number libphonenumber calls valid for its region, in a form people write."""
    import phonenumbers

    while True:
        region, form = rng.choice(PHONE_FORMS)
        digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
        text = form.format(a=str(rng.randint(201, 989)), b=digits(3), c=digits(4), d=digits(3), e=digits(6), f=digits(8),
                           g=" ".join(digits(2) for _ in range(4)), h=f"{digits(4)} {digits(5)}")
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(text, region)):
                return text
        except phonenumbers.NumberParseException:
            continue


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def caught(template: str, span: str, masked: str) -> bool:
    """None of the span's words is left in the masked text, beyond the words the template has around it."""
    around = set(words(template.replace("{", " ").replace("}", " ")))
    left = set(words(masked))
    return not [w for w in words(span) if w in left and w not in around and w not in {"v", "lower", "compact", "first", "last"}]


def synthetic(per_kind: int, seed: int, templates_of: dict[str, list[str]] = TEMPLATES) -> list[tuple[str, str, str, str]]:
    """(kind, template, span, utterance) rows."""
    rng = random.Random(seed)
    rows = []
    for kind, templates in templates_of.items():
        for i in range(per_kind):
            template = templates[i % len(templates)]
            text, fields = value(kind, rng)
            filled = {"v": text, **fields}
            utterance = template.format(**filled)
            shown = next((filled[k] for k in ("lower", "compact", "first", "last") if "{" + k + "}" in template), text)
            rows.append((kind, template, shown, utterance))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--misses", action="store_true", help="print what was missed")
    parser.add_argument("--templates", choices=TEMPLATE_SETS, default="dev",
                        help="dev: the templates the rules were written against; held-out: written after them (then used to extend "
                             "them); fresh: written after that, run once; fresh-dob, fresh-person: dates of birth, person names, written after fresh, run once")
    args = parser.parse_args()
    templates = TEMPLATE_SETS[args.templates]
    rows = synthetic(args.per_kind, args.seed, templates)
    started = time.perf_counter()
    hits, totals, misses = Counter(), Counter(), defaultdict(list)
    for kind, template, span, utterance in rows:
        masked = mask_pii(utterance)
        totals[kind] += 1
        if caught(template, span, masked):
            hits[kind] += 1
        else:
            misses[kind].append((utterance, masked))
    seconds = time.perf_counter() - started
    queries = pd.read_csv(BANKING77_TEST)["text"].tolist()
    changed = [(q, mask_pii(q)) for q in queries]
    changed = [(q, m) for q, m in changed if q != m]
    recall = {kind: round(hits[kind] / totals[kind], 4) for kind in templates}
    report = {"templates": args.templates, "recall": recall, "n_per_kind": args.per_kind, "false_positive_share_banking77_test": round(len(changed) / len(queries), 4),
              "false_positives": len(changed), "banking77_test": len(queries), "ms_per_utterance": round(1000 * seconds / len(rows), 3)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("| kind | recall | templates |")
        print("| --- | --- | --- |")
        for kind in templates:
            print(f"| {kind} | {recall[kind]:.3f} | {len(templates[kind])} |")
        print(f"\nFalse positives on BANKING77 test: {len(changed)} of {len(queries)} ({100 * len(changed) / len(queries):.2f}%); "
              f"{report['ms_per_utterance']} ms an utterance")
    if args.misses:
        for kind, missed in misses.items():
            for utterance, masked in missed[:8]:
                print(f"missed {kind}: {utterance!r} -> {masked!r}")
        for query, masked in changed:
            print(f"false positive: {query!r} -> {masked!r}")


if __name__ == "__main__":
    main()
