"""What PII masking hides, and the everyday numbers it must leave alone because they carry the intent."""

import pytest

from dialin_core.data.pii import mask_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mail me at john.doe+billing@example.co.uk please", "mail me at [EMAIL] please"),
        ("my card 4111 1111 1111 1111 was declined", "my card [CARD] was declined"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("card number 5555555555554444", "card number [CARD]"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("call me on +44 20 7946 0958 tomorrow", "call me on [PHONE] tomorrow"),
        ("my number is +1 (202) 555-0143", "my number is [PHONE]"),
        ("call +12025550143", "call [PHONE]"),
        ("(202) 555-0143 or 202.555.0143 or 1-800-555-0199", "[PHONE] or [PHONE] or [PHONE]"),
        ("reach me at 555-0143", "reach me at [PHONE]"),
        ("my account number is 12345678", "my account number is [ACCOUNT]"),
        ("acct: 9876 5432 1", "acct: [ACCOUNT]"),
        ("account #40512", "account #[ACCOUNT]"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [ACCOUNT] please"),
        ("send it to GB82WEST12345698765432", "send it to [ACCOUNT]"),
        ("reference 123456789012, thanks", "reference [ACCOUNT], thanks"),
    ],
)
def test_masks(text, masked):
    assert mask_pii(text) == masked


def test_cards_win_over_phones_and_accounts():
    # A grouped card number also fits the phone and account shapes; it must come out as a card.
    assert mask_pii("4111 1111 1111 1111 and 5555-5555-5555-4444") == "[CARD] and [CARD]"


def test_number_failing_the_card_checksum_is_not_a_card():
    assert "[CARD]" not in mask_pii("tracking 4111 1111 1111 1112")


@pytest.mark.parametrize(
    "text",
    [
        "I was charged $250 twice",
        "that is 1,200 dollars",
        "a refund of $1,234,567.89",
        "it arrived on 12/03/2024",
        "booked for 2024-03-12 and 12.03.2024",
        "the meeting is at 10:30 or 14:45:10",
        "order 42 is late",
        "order 12345 is late",
        "the card ending in 4321",
        "account ending in 4321",
        "between 9am and 5pm, 3 to 4 days",
    ],
)
def test_leaves_everyday_numbers_alone(text):
    assert mask_pii(text) == text


def test_several_kinds_in_one_utterance():
    text = "I'm ann@example.com, card 4111111111111111, phone 202-555-0143, account 87654321, order 42"

    assert mask_pii(text) == "I'm [EMAIL], card [CARD], phone [PHONE], account [ACCOUNT], order 42"
