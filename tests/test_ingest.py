"""How transcript files become turns and utterances, and what the user is told when a file is wrong."""

import codecs
import json
import os
import pickle
import tracemalloc
from pathlib import Path

import pytest

from dialin_core.data.ingest import (
    ColumnMapping,
    Turn,
    deduplicate,
    normalise_role,
    preview_transcripts,
    read_transcripts,
    staged_batches,
)
from dialin_core.errors import IngestError
from tests.conftest import SGD_SAMPLE

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
CALLS_MAPPING = ColumnMapping(
    text="message", dialogue_id="conversation", turn_index="turn", speaker="speaker", label="intent"
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# --- roles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "speaker", ["USER", "user", "customer", "Customer", "caller", "client", "guest", "member", " Caller 2: "]
)
def test_customer_speaker_names(speaker):
    assert normalise_role(speaker) == "customer"


@pytest.mark.parametrize(
    "speaker",
    ["SYSTEM", "agent", "bot", "assistant", "representative", "rep", "operator", "advisor", "support", "Agent 2:"],
)
def test_agent_speaker_names(speaker):
    assert normalise_role(speaker) == "agent"


@pytest.mark.parametrize("speaker", ["", "   ", "Note", "supervisor", "customer service"])
def test_unknown_speakers_are_other(speaker):
    assert normalise_role(speaker) == "other"


# --- CSV / TSV -------------------------------------------------------------------------------------


def test_csv_with_full_mapping_orders_turns_by_turn_column():
    turns = read_transcripts(FIXTURES / "calls.csv", CALLS_MAPPING)

    assert [(t.dialogue_id, t.turn_index, t.speaker, t.role) for t in turns] == [
        ("c1", 0, "Customer", "customer"),
        ("c1", 1, "Agent", "agent"),
        ("c1", 2, "Customer", "customer"),
        ("c2", 0, "caller", "customer"),  # turn 1 comes after turn 2 in the file
        ("c2", 1, "Agent 1", "agent"),  # the caller's row with empty text is skipped
    ]
    assert turns[2].text == "It is order 42,\nplaced yesterday."
    assert turns[2].clean_text == "It is order 42, placed yesterday."
    assert turns[3].clean_text == "I want to cancel my order!"
    assert [t.gold_label for t in turns] == ["cancel_order", None, "cancel_order", "cancel_order", None]


def test_csv_without_dialogue_column_makes_each_row_a_dialogue_named_by_line():
    turns = read_transcripts(FIXTURES / "calls.csv", ColumnMapping(text="message"))

    # The third message spans lines 4-5, so the next row starts on line 6.
    assert [t.dialogue_id for t in turns] == ["row-2", "row-3", "row-4", "row-6", "row-7"]
    assert {t.turn_index for t in turns} == {0}
    assert {t.speaker for t in turns} == {""} and {t.role for t in turns} == {"other"}


def test_csv_without_turn_column_keeps_file_order():
    turns = read_transcripts(FIXTURES / "calls.csv", ColumnMapping(text="message", dialogue_id="conversation"))

    assert [t.text for t in turns if t.dialogue_id == "c2"] == ["Anything else?", "I want to  cancel my order!"]
    assert [t.turn_index for t in turns if t.dialogue_id == "c2"] == [0, 1]


def test_semicolon_delimiter_is_sniffed():
    mapping = ColumnMapping(text="text", dialogue_id="id", speaker="speaker")

    turns = read_transcripts(FIXTURES / "semicolon.csv", mapping)

    assert [(t.role, t.text) for t in turns] == [
        ("customer", "Où est mon colis ?"),
        ("agent", "Il arrive demain, à 10h."),
    ]


def test_tsv_is_tab_separated():
    turns = read_transcripts(FIXTURES / "calls.tsv", ColumnMapping(text="text", speaker="speaker", label="label"))

    assert [(t.role, t.text, t.gold_label) for t in turns] == [
        ("customer", "Reset my password, please", "reset_password"),
        ("agent", "I can help with that", None),
    ]


def test_pipe_delimiter_and_default_text_column(tmp_path):
    path = write(tmp_path, "export.csv", "id|text\n1|first, with commas, many\n2|second\n")

    assert [t.text for t in read_transcripts(path)] == ["first, with commas, many", "second"]


def test_single_text_column_full_of_commas(tmp_path):
    path = write(tmp_path, "one.csv", 'text\n"Hello, I need help, please"\n"Yes, hi, sure"\n')

    assert [t.text for t in read_transcripts(path)] == ["Hello, I need help, please", "Yes, hi, sure"]


# --- encodings -------------------------------------------------------------------------------------

ENCODED_TEXTS = {
    "utf-8": "Où est mon colis ? Grüße",
    "utf-8-sig": "Où est mon colis ? Grüße",
    "utf-16": "Où est mon colis ? 我想取消订单",
    "utf-32": "Où est mon colis ? 我想取消订单",
    "gb18030": "我想取消我的订单，请帮我查一下账户余额",
    "latin-1": "Je voudrais annuler ma réservation à Genève. Merci",
    "cp1252": "He said “cancel it” – café",
}


@pytest.mark.parametrize("encoding", ENCODED_TEXTS)
def test_encodings_round_trip(tmp_path, encoding):
    message = ENCODED_TEXTS[encoding]
    path = write(tmp_path, "chat.csv", f"speaker,text\ncustomer,{message}\nagent,ok\n".encode(encoding))

    turns = read_transcripts(path, ColumnMapping(text="text", speaker="speaker"))

    assert [t.text for t in turns] == [message, "ok"]
    assert turns[0].speaker == "customer"  # no byte-order mark left on the header


def test_utf16_big_endian_with_bom(tmp_path):
    path = write(tmp_path, "chat.txt", codecs.BOM_UTF16_BE + "Agent: 您好\n".encode("utf-16-be"))

    assert [(t.role, t.text) for t in read_transcripts(path)] == [("agent", "您好")]


def test_text_no_encoding_detector_recognises_is_read_as_latin1(tmp_path):
    path = write(tmp_path, "symbols.txt", "Price: 5¤ ¦ § ¨ ©\n".encode("latin-1"))

    assert read_transcripts(path)[0].text == "Price: 5¤ ¦ § ¨ ©"


def test_broken_utf16_after_a_byte_order_mark(tmp_path):
    path = write(tmp_path, "odd.txt", codecs.BOM_UTF16_LE + "hello".encode("utf-16-le") + b"!")

    with pytest.raises(IngestError, match=r"^odd\.txt: starts like UTF-16 text but is not valid UTF-16"):
        read_transcripts(path)


def test_mixed_encodings_name_the_first_bad_line(tmp_path):
    content = "text\nCafé au lait\nplain ascii\n".encode() + "Crème brûlée\n".encode("latin-1")
    path = write(tmp_path, "mixed.csv", content)

    with pytest.raises(IngestError, match=r"^mixed\.csv: line 4: not valid UTF-8 .* mixes encodings"):
        read_transcripts(path)


def test_latin1_line_in_a_utf8_file_with_bom_is_mixed(tmp_path):
    path = write(tmp_path, "bom.txt", codecs.BOM_UTF8 + b"hello\n" + "déjà vu\n".encode("latin-1"))

    with pytest.raises(IngestError, match=r"^bom\.txt: line 2: .*mixes encodings"):
        read_transcripts(path)


# --- JSON Lines / JSON -----------------------------------------------------------------------------


def test_jsonl_dialogues():
    turns = read_transcripts(FIXTURES / "dialogues.jsonl")

    assert [(t.dialogue_id, t.turn_index, t.speaker, t.role, t.text, t.gold_label) for t in turns] == [
        ("d1", 0, "USER", "customer", "Book a table for two", "ReserveRestaurant"),
        ("d1", 1, "SYSTEM", "agent", "Which restaurant?", None),
        ("line-3", 0, "customer", "customer", "Where is my refund?", "refund_status"),
        ("line-3", 1, "bot", "agent", "Let me check.", None),  # the blank turn is skipped
    ]


def test_json_list_of_dialogues():
    turns = read_transcripts(FIXTURES / "dialogues.json")

    assert [(t.dialogue_id, t.role, t.text, t.gold_label) for t in turns] == [
        ("7", "customer", "Is breakfast included?", "ask_amenities"),
        ("item-2", "agent", "Good morning", None),
    ]


def test_sgd_sample_reads_as_it_is():
    turns = read_transcripts(SGD_SAMPLE)

    assert len({t.dialogue_id for t in turns}) == 1500
    assert {t.speaker for t in turns} == {"USER", "SYSTEM"}
    assert turns[0].role == "customer" and turns[0].gold_label == "FindEvents"
    assert turns[1].role == "agent" and turns[1].gold_label is None
    assert sum(t.role == "customer" for t in turns) == sum(t.role == "agent" for t in turns) == 13755
    assert all(t.gold_label is None for t in turns if t.role == "agent")  # SYSTEM turns: empty active_intents


# --- plain text ------------------------------------------------------------------------------------


def test_text_file_is_one_dialogue_with_known_speaker_prefixes():
    turns = read_transcripts(FIXTURES / "call.txt")

    assert [(t.dialogue_id, t.turn_index, t.speaker, t.role, t.text) for t in turns] == [
        ("call", 0, "Customer", "customer", "My card was charged twice."),
        ("call", 1, "Agent 2", "agent", "I'm sorry about that, let me look."),
        ("call", 2, "", "other", "Note: customer called back at 10:30"),
        ("call", 3, "", "other", "   plain line without a speaker"),
    ]
    assert turns[3].clean_text == "plain line without a speaker"


def test_unknown_suffix_reads_as_text(tmp_path):
    path = write(tmp_path, "notes.log", "caller: hello\r\nrep: hi there\r\n")

    assert [(t.role, t.text) for t in read_transcripts(path)] == [("customer", "hello"), ("agent", "hi there")]


def test_mask_pii_option(tmp_path):
    path = write(tmp_path, "pii.txt", "Customer: mail  me at ann@example.com or call +1 202 555 0143\n")

    turn = read_transcripts(path, mask_pii=True)[0]

    assert turn.clean_text == "mail me at [EMAIL] or call [PHONE]"
    assert turn.text == "mail  me at [EMAIL] or call [PHONE]"  # the original masked too, its spacing kept


# --- bad input -------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(IngestError, match=r"^nope\.csv: file not found$"):
        read_transcripts(tmp_path / "nope.csv")


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(IngestError, match=r"^folder\.txt: is a folder"):
        read_transcripts(tmp_path / "folder.txt")


def test_path_through_a_file_cannot_be_read(tmp_path):
    write(tmp_path, "calls.txt", "hello")

    with pytest.raises(IngestError, match=r"^more\.csv: cannot be read: Not a directory$"):
        read_transcripts(tmp_path / "calls.txt" / "more.csv")


@pytest.mark.parametrize("content", [b"", b"  \n\t\n", "\n \n".encode("utf-16")])
@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl", "empty.txt"])
def test_empty_file(tmp_path, name, content):
    with pytest.raises(IngestError, match=rf"^{name.replace('.', '[.]')}: file is empty$"):
        read_transcripts(write(tmp_path, name, content))


def test_missing_column_lists_the_available_columns():
    with pytest.raises(
        IngestError, match=r"^calls\.csv: line 1: no column named 'utterance'; the columns are 'conversation', 'turn'"
    ) as caught:
        read_transcripts(FIXTURES / "calls.csv", ColumnMapping(text="utterance", dialogue_id="conversation"))
    assert "'message'" in str(caught.value) and caught.value.line == 1


def test_malformed_csv_names_the_line(tmp_path):
    path = write(tmp_path, "long.csv", "text\nhello\n" + "x" * 200_000 + "\n")

    with pytest.raises(IngestError, match=r"^long\.csv: line 3: a cell starting here holds more than 131,072 characters, far more "
                                          r"than any utterance: usually a quote that opens a cell"):
        read_transcripts(path)
    # a quote opened on line 3 and closed 200 lines below: the message names the line the cell starts on
    runaway = write(tmp_path, "runaway.csv", 'text\nhello\n"' + ("y" * 1000 + "\n") * 200 + '"\nbye\n')
    with pytest.raises(IngestError, match=r"^runaway\.csv: line 3: a cell starting here holds more than 131,072 characters"):
        read_transcripts(runaway)


def test_no_text_in_any_row(tmp_path):
    path = write(tmp_path, "blank.csv", "id,text\n1,\n2,   \n")

    with pytest.raises(IngestError, match=r"^blank\.csv: no utterances found: column 'text' is empty in every row"):
        read_transcripts(path)


def test_bad_turn_number_names_the_physical_line(tmp_path):
    path = write(tmp_path, "turns.csv", 'id,turn,text\na,1,"two\nlines"\na,two,hello\n')

    with pytest.raises(IngestError, match=r"^turns\.csv: line 4: column 'turn' should hold a whole number, not 'two'"):
        read_transcripts(path, ColumnMapping(text="text", dialogue_id="id", turn_index="turn"))


def test_empty_dialogue_id(tmp_path):
    path = write(tmp_path, "ids.csv", "id,text\na,hello\n,hi\n")

    with pytest.raises(IngestError, match=r"^ids\.csv: line 3: column 'id' is empty"):
        read_transcripts(path, ColumnMapping(text="text", dialogue_id="id"))


@pytest.mark.parametrize("name", ["image.csv", "image.jsonl", "image.txt", "image.png"])
def test_binary_file_with_nul_bytes(tmp_path, name):
    path = write(tmp_path, name, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))

    expected = rf"^{path.name.replace('.', '[.]')}: looks like a binary file, not text \(found NUL bytes\)"
    with pytest.raises(IngestError, match=expected):
        read_transcripts(path)


def test_binary_file_without_nul_bytes(tmp_path):
    path = write(tmp_path, "blob.txt", bytes(range(1, 256)) * 4)

    with pytest.raises(IngestError, match=r"^blob\.txt: looks like a binary file, not text"):
        read_transcripts(path)


def test_broken_json_line_gives_line_and_reason(tmp_path):
    path = write(tmp_path, "broken.jsonl", '{"turns": []}\n\n{"turns": [}\n')

    with pytest.raises(IngestError, match=r"^broken\.jsonl: line 3: not valid JSON: Expecting value \(column 12\)"):
        read_transcripts(path)


def test_broken_json_list_gives_line(tmp_path):
    path = write(tmp_path, "broken.json", '[\n  {"turns": []},\n  {"turns": [}\n]\n')

    with pytest.raises(IngestError, match=r"^broken\.json: line 3: not valid JSON"):
        read_transcripts(path)


def test_dialogue_without_turns(tmp_path):
    path = write(tmp_path, "noturns.jsonl", '{"id": "a", "turns": []}\n{"id": "b", "utterances": []}\n')

    expected = r"""^noturns\.jsonl: line 2: dialogue has no "turns" list \(keys are 'id', 'utterances'\)"""
    with pytest.raises(IngestError, match=expected):
        read_transcripts(path)


def test_line_that_is_not_a_dialogue_object(tmp_path):
    path = write(tmp_path, "list.jsonl", '{"turns": [{"text": "hi"}]}\n["hi"]\n')

    with pytest.raises(IngestError, match=r"^list\.jsonl: line 2: expected a dialogue object, found a list"):
        read_transcripts(path)


def test_turn_without_text_names_line_and_turn(tmp_path):
    path = write(tmp_path, "notext.jsonl", '{"turns": [{"speaker": "USER", "utterance": "hi"}, {"speaker": "BOT"}]}\n')

    with pytest.raises(IngestError, match=r'^notext\.jsonl: line 1: turn 2 of 2 has no "utterance" or "text" string'):
        read_transcripts(path)


def test_turn_without_text_in_a_json_list_names_the_item(tmp_path):
    path = write(tmp_path, "notext.json", '[{"turns": [{"text": "hi"}]}, {"turns": [{"text": null}]}]')

    with pytest.raises(IngestError, match=r"^notext\.json: item 2 of the list: turn 1 of 1 has no"):
        read_transcripts(path)


def test_jsonl_without_any_text(tmp_path):
    path = write(tmp_path, "quiet.jsonl", '{"turns": [{"text": ""}]}\n')

    with pytest.raises(IngestError, match=r"^quiet\.jsonl: no utterances found"):
        read_transcripts(path)


def test_a_json_list_over_the_limit_fails_before_it_is_parsed(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.write(b'[{"turns": [{"text": "hi"}]}')
        handle.truncate(1024**3)  # sparse: takes no disk space
    monkeypatch.setattr("dialin_core.data.ingest._text_encoding", lambda path: "utf-8")  # the pass over a GiB of bytes
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("the document was parsed"))

    with pytest.raises(IngestError, match=r"^huge\.json: file is 1 GiB, over the 512 MiB limit for a JSON list, which is read whole"):
        read_transcripts(path)


def test_json_list_size_limit_is_configurable_and_json_lines_have_none(tmp_path):
    dialogue = {"dialogue_id": "d1", "turns": [{"speaker": "USER", "text": "x" * 2000}]}
    listed = write(tmp_path, "small.json", json.dumps([dialogue]))
    lines = write(tmp_path, "small.jsonl", json.dumps(dialogue) + "\n")

    with pytest.raises(IngestError, match=r"^small\.json: file is 2 KiB, over the 1 KiB limit for a JSON list"):
        read_transcripts(listed, max_bytes=1024)
    assert read_transcripts(listed, max_bytes=4096)[0].text == "x" * 2000
    assert read_transcripts(lines, max_bytes=1024)[0].text == "x" * 2000


def _peak_staging_memory(path: Path, rows: int) -> int:
    """Peak Python memory while reading a CSV of `rows` rows into staged batches of 5,000."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("call,text,intent\n")
        for i in range(rows):
            handle.write(f"c{i // 6},customer utterance number {i} about card {i % 97},intent-{i % 13}\n")
    tracemalloc.start()
    try:
        staged = sum(len(batch) for batch in staged_batches(path, ColumnMapping(text="text", dialogue_id="call", label="intent"),
                                                             batch_rows=5_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert staged == rows
    return peak


def test_a_large_file_streams_in_batches_whose_memory_does_not_grow_with_the_file(tmp_path):
    small = _peak_staging_memory(tmp_path / "small.csv", 10_000)
    large = _peak_staging_memory(tmp_path / "large.csv", 40_000)

    # four times the rows, the same batches: read whole, the peak would grow four times
    assert large < 1.3 * small


def test_a_preview_reads_the_head_of_a_file_and_says_whether_it_was_all(tmp_path):
    path = write(tmp_path, "calls.txt", "".join(f"Customer: line {i}\n" for i in range(50)))

    head, complete = preview_transcripts(path, max_turns=10)
    whole, all_of_it = preview_transcripts(path, max_turns=50)

    assert [t.text for t in head] == [f"line {i}" for i in range(10)] and not complete
    assert len(whole) == 50 and all_of_it


def test_a_problem_below_the_preview_shows_when_the_file_is_read(tmp_path):
    path = write(tmp_path, "calls.csv", "id,text\n" + "".join(f"d{i},hello {i}\n" for i in range(20)) + ",orphan\n")

    assert len(preview_transcripts(path, ColumnMapping(text="text", dialogue_id="id"), max_turns=5)[0]) == 5
    with pytest.raises(IngestError, match=r"^calls\.csv: line 22: column 'id' is empty"):
        read_transcripts(path, ColumnMapping(text="text", dialogue_id="id"))


def test_error_message_parts_and_pickling(tmp_path):
    error = IngestError(tmp_path / "calls.csv", "column 'text' is empty", line=12)

    assert str(error) == "calls.csv: line 12: column 'text' is empty"
    assert (error.path, error.line, error.problem) == (tmp_path / "calls.csv", 12, "column 'text' is empty")
    assert str(IngestError("a/b.txt", "file is empty")) == "b.txt: file is empty"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    assert isinstance(error, ValueError)


# --- de-duplication --------------------------------------------------------------------------------


def turn(dialogue_id, turn_index, clean_text, role="customer", gold_label=None) -> Turn:
    return Turn(dialogue_id, turn_index, role, role, clean_text, clean_text, gold_label)


def test_deduplicate_counts_repeats_and_keeps_positions():
    turns = [
        turn("a", 0, "I want a refund.", gold_label="refund"),
        turn("a", 1, "Sure.", role="agent"),
        turn("b", 0, "i want a REFUND", gold_label="cancel"),
        turn("b", 1, ""),
        turn("c", 3, "I want a refund!!", role="other", gold_label="cancel"),
        turn("d", 0, "Sure", role="customer"),
    ]

    utterances = deduplicate(turns)

    assert [u.norm_text for u in utterances] == ["i want a refund", "sure"]
    refund, sure = utterances
    assert refund.text == "I want a refund."
    assert refund.frequency == 3
    assert refund.positions == (("a", 0), ("b", 0), ("c", 3))
    assert refund.roles == ("customer", "other")
    assert refund.gold_label == "cancel"  # 2 votes against 1
    assert sure.roles == ("agent", "customer") and sure.gold_label is None


def test_deduplicate_label_ties_go_to_the_first_seen():
    turns = [turn("a", 0, "hello", gold_label="greet"), turn("b", 0, "Hello", gold_label="chitchat")]

    assert deduplicate(turns)[0].gold_label == "greet"


def test_punctuation_only_utterances_stay_apart():
    utterances = deduplicate([turn("a", 0, "?"), turn("a", 1, "..."), turn("a", 2, "?")])

    assert [(u.norm_text, u.frequency) for u in utterances] == [("?", 2), ("...", 1)]


def test_deduplicate_sgd_sample_accounts_for_every_turn():
    turns = read_transcripts(SGD_SAMPLE)

    utterances = deduplicate(turns)

    assert sum(u.frequency for u in utterances) == len(turns)
    assert len({u.norm_text for u in utterances}) == len(utterances) < len(turns)


def test_column_names_suggest_the_mapping_case_insensitively_and_leave_unknown_fields_empty():
    from dialin_core.data.ingest import suggest_mapping

    assert suggest_mapping(["Query", "category", "Speaker", "notes"]) == {
        "text": "Query", "dialogue_id": None, "turn_index": None, "speaker": "Speaker", "label": "category",
    }
    both = suggest_mapping(["intent", "label", "text"])  # the more telling name wins over the column order
    assert both["label"] == "label" and both["text"] == "text"


# -- hostile and damaged input ----------------------------------------------------------------------------


def test_a_device_or_pipe_is_refused_before_it_is_read(tmp_path):
    fifo = tmp_path / "calls.txt"
    os.mkfifo(fifo)  # reading it would block forever; /dev/zero would fill memory (both report size 0)
    with pytest.raises(IngestError, match=r"calls.txt: is not a regular file \(a device, pipe or socket\)"):
        read_transcripts(fifo)
    zero = tmp_path / "zero.txt"
    zero.symlink_to("/dev/zero")
    with pytest.raises(IngestError, match="zero.txt: is not a regular file"):
        read_transcripts(zero)


def test_json_nested_thousands_deep_is_one_message_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(IngestError, match="deep.jsonl: (line 1: )?JSON nested too deeply"):
        read_transcripts(path)


def test_a_lone_surrogate_names_the_file_and_the_dialogue(tmp_path):
    path = tmp_path / "calls.jsonl"
    path.write_text('{"dialogue_id": "d7", "turns": [{"speaker": "customer", "utterance": "card \\ud800 lost"}]}\n')
    with pytest.raises(IngestError, match="calls.jsonl: dialogue 'd7' holds a lone surrogate"):
        read_transcripts(path)


def test_invisible_and_control_characters_leave_clean_text_and_make_no_turn_alone(tmp_path):
    path = tmp_path / "calls.txt"
    path.write_text("customer: \x1b[31mmy card\x1b[0m is \u202eblocked\u202c\n"
                    "agent: \u200b\u2066\u2069\n"  # nothing visible: no turn
                    "customer: 👩\u200d💻 تو\u200cرا\n")  # ZWJ (emoji) and ZWNJ (Persian) are kept
    turns = read_transcripts(path)
    assert [t.clean_text for t in turns] == ["my card is blocked", "👩\u200d💻 تو\u200cرا"]
    assert [t.turn_index for t in turns] == [0, 1]
    assert "\x1b[31m" in turns[0].text  # the raw column keeps what the file said
