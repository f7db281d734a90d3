"""What PII masking hides, and the everyday numbers it must leave alone because they carry the intent."""

import json
from pathlib import Path

import pandas as pd
import pytest

from dialin_core.config import RunConfig
from dialin_core.curation.export import write_export
from dialin_core.data.datasets import ingest_file
from dialin_core.data.ingest import ColumnMapping
from dialin_core.data.pii import find_pii, mask_pii
from dialin_core.data.store import Store
from dialin_core.llm.base import ChatRequest, ChatResponse
from dialin_core.llm.openai_backend import OpenAIBackend
from dialin_core.methods.baselines import run_discovery
from dialin_core.methods.dialin import build_tools, run_dialin
from dialin_core.openai_http import OpenAISettings
from tests.fakes import ScriptedLLM, verdict_response
from tests.test_llm_openai import GOOD_REPLY, ScriptedServer, backend_for


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
        "reference 123456789012, thanks",  # an order or reference number is no personal data, and the intent's word
        "my tracking number is 1234567890",
        "call me on monday",
        "this is urgent, my card was stolen",
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


# -- the kinds a context or a library decides ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my name is Anna Kowalski and my card is blocked", "my name is [PERSON] and my card is blocked"),
        ("hi, this is Mei O'Brien speaking", "hi, this is [PERSON] speaking"),
        ("Mr Müller called about the refund", "Mr [PERSON] called about the refund"),
        ("my husband Kwame made the payment", "my husband [PERSON] made the payment"),
        ("I live at 221B Baker Street, London", "I live at [ADDRESS]"),
        ("send it to 12 High Road, Leeds LS1 4AP", "send it to [ADDRESS], Leeds [ADDRESS]"),
        ("my date of birth is 14/06/1981", "my date of birth is [DOB]"),
        ("I was born on March 3, 1975", "I was born on [DOB]"),
        ("14/06/1981 is my date-of-birth", "[DOB] is my date-of-birth"),  # the cue after the date
        ("my daughter was born 2019-05-02", "my daughter was born [DOB]"),  # a recent date, with a cue
        ("security check: 3 March 1975", "security check: [DOB]"),  # a whole date decades old, no cue
        ("transfer 50 to Priya Patel tomorrow", "transfer 50 to [PERSON] tomorrow"),  # listed first and last names, no cue
        ("signed, Olivia Brown", "signed, [PERSON]"),
        ("my ssn is 123-45-6789", "my ssn is [SSN]"),
        ("social security number 123 45 6789", "social security number [SSN]"),
        ("logged in from 192.168.10.24", "logged in from [IP]"),
        ("from 2001:db8:85a3:0:0:8a2e:370:7334 today", "from [IP] today"),
        ("iban gb82 west 1234 5698 7654 32", "iban [ACCOUNT]"),
        ("call 0049 30 12345678 or 07911 123456", "call [PHONE] or [PHONE]"),
    ],
)
def test_masks_names_addresses_dates_of_birth_and_the_numbers_libraries_check(text, masked):
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "This is URGENT, I typed the wrong payment information",
        "There is a Direct Debit that I don't recognize.",
        "I am traveling to Germany, will I be able to use my card there?",
        "the exchange rate on 12/03/2024 was wrong",  # a date, but no birth date
        "I have been with you since 1998 and paid on 12.03.2024",  # a year alone, and a recent whole date
        "Is there a Grace Period on my Direct Debit at Chase?",  # capitalised words, but not a listed first and last name
        "my son is ill and cannot come to the branch",
        "the 3 day transfer to my savings",
    ],
)
def test_leaves_requests_without_personal_data_alone(text):
    assert mask_pii(text) == text


def test_find_pii_returns_kinds_without_overlaps():
    spans = find_pii("I'm ann@example.com, card 4111111111111111, my ssn is 123-45-6789")
    assert [s.kind for s in spans] == ["email", "card", "ssn"]
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))


# -- masked everywhere it leaves or is shown -------------------------------------------------------------------

SEEDED = {
    "anna.kowalski@example.com": "my email is anna.kowalski@example.com",
    "Anna Kowalski": "my name is Anna Kowalski, my card was declined",
    "4111 1111 1111 1111": "my card 4111 1111 1111 1111 was declined",
    "221B Baker Street": "I live at 221B Baker Street, please send the new card",
    "14/06/1981": "my date of birth is 14/06/1981, my card was declined",
    "+44 20 7946 0958": "call me on +44 20 7946 0958 about the declined card",
    "123-45-6789": "my ssn is 123-45-6789 and my card was declined",
    "192.168.10.24": "my card was declined when I logged in from 192.168.10.24",
}


def seeded_file(tmp_path: Path) -> Path:
    rows = [{"text": text, "label": "card_declined"} for text in SEEDED.values()]
    rows += [{"text": f"how long does a transfer take {i}", "label": "transfer_time"} for i in range(16)]
    rows += [{"text": f"my card was declined at shop {i}", "label": "card_declined"} for i in range(8)]
    path = tmp_path / "seeded.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def leaks(texts) -> list[str]:
    return [span for span in SEEDED for text in texts if span in str(text)]


def exported(paths: list[Path]) -> list[str]:
    """The text of each exported file as a reader gets it (JSON lines parsed: pandas writes "/" as "\\/")."""
    texts = []
    for path in paths:
        if path.suffix == ".parquet":
            texts += pd.read_parquet(path)["text"].tolist()
        elif path.suffix == ".jsonl":
            texts += [json.dumps(json.loads(line), ensure_ascii=False) for line in path.read_text(encoding="utf-8").splitlines()]
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def test_a_masked_data_set_keeps_no_value_in_any_stored_text_prompt_or_export(tmp_path):
    llm = ScriptedLLM(lambda request: ChatResponse(text="request-card_help", first_token_logprobs={}, prompt_tokens=5,
                                                   completion_tokens=1) if request.grammar and "verb" in request.grammar
                      else verdict_response(0.9))
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, seeded_file(tmp_path), ColumnMapping(text="text", label="label"), mask_pii=True)
        config = RunConfig(with_map=False, k_min=2, k_max=4, max_llm_calls=20)
        tools = build_tools(store, config, backend=llm)
        run = run_dialin(store, dataset_id, config, tools=tools)
        stored = store.connection.execute("SELECT text, clean_text FROM turns").fetchall()
        stored += store.connection.execute("SELECT text, norm_text FROM utterances").fetchall()
        written = write_export(store, run.run_id, tmp_path / "export", mask_pii=False)  # even unmasked: ingest masked it
    assert llm.requests, "the run asked the LLM nothing: the prompts were not checked"
    assert not leaks(content for request in llm.requests for _, content in request.messages)
    assert not leaks(value for row in stored for value in row)
    assert not leaks(exported(written))


def test_exports_mask_by_default_and_the_data_card_says_whether_they_did(tmp_path):
    with Store(tmp_path / "w.duckdb") as store:
        dataset_id = ingest_file(store, seeded_file(tmp_path), ColumnMapping(text="text", label="label"))  # not masked
        run = run_discovery(store, dataset_id, RunConfig(method="kmeans", k=2, with_map=False))
        masked = write_export(store, run.run_id, tmp_path / "masked")
        kept = write_export(store, run.run_id, tmp_path / "kept", mask_pii=False)
    assert not leaks(exported(masked))
    assert set(leaks(exported([tmp_path / "kept" / "utterances.jsonl"]))) == set(SEEDED)
    assert json.loads((tmp_path / "masked" / "data_card.json").read_text())["personal_data"]["masked_in_export"] is True
    assert json.loads((tmp_path / "kept" / "data_card.json").read_text())["personal_data"]["masked_in_export"] is False
    assert "Personal data: not masked" in (tmp_path / "kept" / "data_card.md").read_text()
    assert len(masked) == len(kept)


def test_a_served_llm_never_sees_personal_data_unless_told_it_may(monkeypatch):
    request = ChatRequest(messages=(("user", "my name is Anna Kowalski, call +44 20 7946 0958"),), max_tokens=1)
    with ScriptedServer([(200, GOOD_REPLY), (200, GOOD_REPLY)]) as server:
        backend_for(server).chat(request)
        monkeypatch.setenv("DIALIN_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("DIALIN_OPENAI_MODEL", "m")
        monkeypatch.setenv("DIALIN_OPENAI_SEND_PII", "1")
        opted_out = OpenAIBackend(OpenAISettings.from_env())
        assert not opted_out.masks_pii
        opted_out.chat(request)
    masked, sent = (r["body"]["messages"][0]["content"] for r in server.requests)
    assert masked == "my name is [PERSON], call [PHONE]"
    assert sent == request.messages[0][1]
