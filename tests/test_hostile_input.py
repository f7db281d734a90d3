"""A corpus of hostile, damaged and odd transcript files, each ingested through the CLI's own entry point into a
workspace that already holds a data set.

What every file must get: either it is stored as the text it holds (what an analyst would read in it, nothing
invisible or executable added or lost), or it is refused with one line that names the file and the problem, and
every table of the workspace is left exactly as it was. No file may end in a traceback: `main` lets only the
product's own errors through as messages, so anything else fails the test where it is raised.
"""

import gzip
import io
import json
import os
import random
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dialin_core.cli import main
from dialin_core.data.ingest import csv_columns
from dialin_core.errors import IngestError
from tests.conftest import SAMPLE_DIALOGUES


@dataclass(frozen=True)
class Refused:
    problem: str  # a regular expression the message must match after "error: <file name>: "


@dataclass(frozen=True)
class Stored:
    texts: list[str]  # the data set's utterances (clean text), in order
    source_is: str | None = None  # the file the data set records as its source, where it is not the path given


@dataclass(frozen=True)
class Case:
    name: str  # the file's name, as the message must quote it
    make: Callable[[Path], None]  # writes (or links, or makes) the file at the path it is given
    expect: Refused | Stored
    args: tuple[str, ...] = ()  # CLI options after the path


def write(data: bytes | str) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def link_to(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def gzipped(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), mtime=0)


def zipped(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def noise(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def dialogue(*turns: dict, **fields) -> str:
    return json.dumps({"dialogue_id": "d1", **fields, "turns": list(turns)})


def turn(text, speaker="customer") -> dict:
    return {"speaker": speaker, "text": text}


BINARY = r"looks like a binary file, not text"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00\x01\x00\x00\x00"
CARD = "my card was charged twice"
BLOCKED = "my card is blocked"

CASES = [
    # -- CSV and TSV: structure --------------------------------------------------------------------------------
    Case("empty.csv", write(b""), Refused(r"^file is empty$")),
    Case("header_only.csv", write("text\n"), Refused(r"column 'text' is empty in every row")),
    Case("no_text_column.csv", write("query,label\nhello,x\n"), Refused(r"line 1: no column named 'text'")),
    Case("empty_header.csv", write(",\nhello,\n"), Refused(r"line 1: no column named 'text'")),
    Case("missing_label_column.csv", write(f"text\n{CARD}\n"), Refused(r"no column named 'intent'"),
         ("--label-column", "intent")),
    Case("unterminated_quote.csv", write(f'text\n{CARD}\n"{BLOCKED}\nand more\n'),
         Refused(r"^line 3: a quoted cell starts here and is never closed")),
    Case("unclosed_header_quote.csv", write(f'"text\n{CARD}\n'), Refused(r"^line 1: a quoted cell starts here and is never closed")),
    Case("stray_quote_header.csv", write(f'"te"xt,id\n{CARD},1\n'), Refused(r"^line 1: malformed CSV: .* written twice")),
    Case("stray_quote.csv", write(f'text\n{CARD}\n"he said "hi" to me"\n'),
         Refused(r"^line 3: malformed CSV: .* a quote inside a quoted cell is written twice")),
    Case("inner_quotes.csv", write(f'id,text\n1,he said "hi" to me\n'), Stored(['he said "hi" to me'])),
    Case("blank_rows.csv", write("text\n   \n\t\n\n"), Refused(r"column 'text' is empty in every row")),
    Case("invisible_rows.csv", write("text\n\u200b\u200b\n\u202e\u202c\n\u2066\u2069\n"),
         Refused(r"column 'text' is empty in every row")),
    Case("duplicate_header.csv", write(f"text,text\n{CARD},{BLOCKED}\n"), Refused(r"^line 1: the header names 'text' more than once")),
    Case("long_field.csv", write("text\n" + "a" * 300_000 + "\n"), Refused(r"^line 2: a cell starting here holds more than 131,072 characters")),
    Case("many_columns.csv", write(",".join(f"c{i}" for i in range(5000)) + ",text\n" + "," * 5000 + f"{CARD}\n"),
         Stored([CARD])),
    Case("crlf.csv", write(f"text\r\n{CARD}\r\n{BLOCKED}\r\n"), Stored([CARD, BLOCKED])),
    Case("cr_only.csv", write(f"text\r{CARD}\r{BLOCKED}\r"), Stored([CARD, BLOCKED])),
    Case("quoted_newline.csv", write(f'text\n"{CARD}\nat the shop"\n{BLOCKED}\n'),
         Stored([f"{CARD} at the shop", BLOCKED])),
    Case("semicolons.csv", write(f"id;text\n1;{CARD}\n2;{BLOCKED}\n"), Stored([CARD, BLOCKED])),
    Case("quoted.tsv", write(f'id\ttext\n1\t"{CARD}"\n2\t{BLOCKED}\n'), Stored([CARD, BLOCKED])),
    Case("empty_dialogue_id.csv", write(f"id,text\n1,{CARD}\n,{BLOCKED}\n"), Refused(r"line 3: column 'id' is empty"),
         ("--dialogue-column", "id")),
    Case("turn_not_a_number.csv", write(f"id,turn,text\n1,one,{CARD}\n"), Refused(r"line 2: .*turn"),
         ("--dialogue-column", "id", "--turn-column", "turn")),
    # -- CSV: content that must stay data ----------------------------------------------------------------------
    Case("formulas.csv", write('text\n"=HYPERLINK(""http://evil.example"",""x"")"\n+cmd|\' /C calc\'!A0\n@SUM(1+1)\n'),
         Stored(['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)"])),
    Case("markdown_id.csv", write(f"id,text\n![pixel](http://evil.example/p.png),{CARD}\n"), Stored([CARD]),
         ("--dialogue-column", "id")),
    Case("html.csv", write(f"text\n<script>alert(1)</script> {CARD}\n"), Stored([f"<script>alert(1)</script> {CARD}"])),
    Case("terminal_escapes.csv", write(f"text\n\x1b[31m{CARD}\x1b[0m\n\x1b]0;title\x07{BLOCKED}\n"),
         Stored([CARD, f"]0;title{BLOCKED}"])),
    Case("bidi_spoof.csv", write(f"text\nmy card \u202eredro\u202c is late\n"), Stored(["my card redro is late"])),
    # -- encodings ---------------------------------------------------------------------------------------------
    Case("utf16_bom.csv", write(f"text\n{CARD}\n".encode("utf-16")), Stored([CARD])),
    Case("utf16_no_bom.csv", write(f"text\n{CARD}\n".encode("utf-16-le")), Refused(BINARY)),
    Case("utf8_bom.txt", write(f"\ufeff{CARD}\n{BLOCKED}\n"), Stored([CARD, BLOCKED])),
    Case("latin1.csv", write("text\ncafé crème refund\n".encode("latin-1")), Stored(["café crème refund"])),
    Case("gb18030.txt", write("我的卡被冻结了\n转账失败\n".encode("gb18030")), Stored(["我的卡被冻结了", "转账失败"])),
    Case("mixed_encoding.csv", write("text\ncafé\n".encode("utf-8") + "crème\n".encode("latin-1")),
         Refused(r"line 3: .*mixes encodings")),
    Case("bad_utf16.txt", write(b"\xff\xfe" + f"{CARD}".encode("utf-16-le") + b"\x00\xd8"), Refused(r"not valid UTF-16")),
    Case("nul_inside.csv", write(f"text\n{CARD}\x00\n"), Refused(BINARY)),
    # -- not text at all ---------------------------------------------------------------------------------------
    Case("noise.csv", write(noise(4096)), Refused(BINARY)),
    Case("noise.txt", write(noise(4096, seed=1)), Refused(BINARY)),
    Case("noise.jsonl", write(noise(4096, seed=2)), Refused(BINARY)),
    Case("gzipped.csv", write(gzipped(f"text\n{CARD}\n")), Refused(BINARY)),
    Case("zipped.csv", write(zipped("calls.csv", f"text\n{CARD}\n")), Refused(BINARY)),
    Case("report.docx", write(zipped("word/document.xml", "<w:document/>")), Refused(BINARY)),
    Case("image.csv", write(PNG), Refused(BINARY)),
    Case("program.txt", write(ELF), Refused(BINARY)),
    Case("nul_only.txt", write(bytes(100)), Refused(BINARY)),
    # -- not a regular file ------------------------------------------------------------------------------------
    Case("missing.csv", lambda path: None, Refused(r"file not found")),
    Case("folder.csv", lambda path: path.mkdir(), Refused(r"is a folder, not a file")),
    Case("pipe.txt", lambda path: os.mkfifo(path), Refused(r"is not a regular file")),
    Case("zeros.csv", link_to("/dev/zero"), Refused(r"is not a regular file")),
    Case("random.txt", link_to("/dev/urandom"), Refused(r"is not a regular file")),
    Case("dangling.txt", link_to("/nonexistent/calls.txt"), Refused(r"file not found")),
    # -- plain text --------------------------------------------------------------------------------------------
    Case("newlines.txt", write("\n" * 1000), Refused(r"^file is empty$")),
    Case("controls.txt", write("\x01\x02\x03\n\x04\x05\n"), Refused(r"^no utterances found: every line is blank$")),
    Case("long_line.txt", write("refund " * 100_000), Stored([("refund " * 100_000).strip()])),
    Case("no_suffix", write(f"{CARD}\n{BLOCKED}\n"), Stored([CARD, BLOCKED])),
    # -- JSON Lines and JSON -----------------------------------------------------------------------------------
    Case("bad.jsonl", write('{"turns": [\n'), Refused(r"line 1: not valid JSON")),
    Case("truncated.jsonl", write(dialogue(turn(CARD)) + "\n" + dialogue(turn(BLOCKED))[:20]),
         Refused(r"line 2: not valid JSON")),
    Case("deep.json", write("[" * 100_000), Refused(r"nested too deeply")),
    Case("deep.jsonl", write('{"turns": ' + "[" * 100_000 + "]" * 100_000 + "}\n"), Refused(r"nested too deeply")),
    Case("number.json", write("42"), Refused(r"expected a dialogue object, found a number")),
    Case("strings.json", write('["hello", "world"]'), Refused(r"expected a dialogue object, found a string")),
    Case("no_turns.jsonl", write('{"dialogue_id": "d1"}\n'), Refused(r'line 1: dialogue has no "turns" list')),
    Case("turns_a_string.jsonl", write('{"dialogue_id": "d1", "turns": "hello"}\n'), Refused(r'"turns" list')),
    Case("text_a_number.jsonl", write(dialogue({"speaker": "customer", "text": 5}) + "\n"),
         Refused(r'turn 1 of 1 has no "utterance" or "text" string')),
    Case("text_null.jsonl", write(dialogue({"speaker": "customer", "text": None}) + "\n"),
         Refused(r'turn 1 of 1 has no "utterance" or "text" string')),
    Case("no_turn_text.jsonl", write('{"dialogue_id": "d1", "turns": []}\n'), Refused(r"no dialogue has a turn with text")),
    Case("lone_surrogate.jsonl", write('{"dialogue_id": "d1", "turns": [{"speaker": "customer", "text": "hi \\ud800 there"}]}\n'),
         Refused(r"dialogue 'd1' holds a lone surrogate")),
    Case("huge_id.jsonl", write('{"dialogue_id": 1' + "0" * 5000 + ', "turns": [{"speaker": "customer", "text": "hi"}]}\n'),
         Refused(r"^line 1: holds a number over 4300 digits long")),
    Case("nan_id.jsonl", write('{"dialogue_id": NaN, "turns": [{"speaker": "customer", "text": "' + CARD + '"}]}\n'), Stored([CARD])),
    Case("object_speaker.jsonl", write(dialogue({"speaker": {"name": "x"}, "text": CARD}) + "\n"), Refused(r"^line 1: turn 1 of 1 has a speaker that is an object, not a string or number")),
    Case("object_id.jsonl", write(json.dumps({"dialogue_id": {"a": 1}, "turns": [turn(CARD)]}) + "\n"), Refused(r'^line 1: "dialogue_id" is an object, not a string or number')),
    Case("blank_lines.jsonl", write("\n\n\n"), Refused(r"^file is empty$")),
    Case("bom.jsonl", write("\ufeff" + dialogue(turn(CARD)) + "\n"), Stored([CARD])),
    Case("duplicate_keys.jsonl", write('{"dialogue_id": "d1", "turns": [{"speaker": "customer", "text": "x", "text": "' + CARD + '"}]}\n'),
         Stored([CARD])),
    Case("markdown_in_json.jsonl", write(json.dumps({"dialogue_id": "![p](http://evil.example/p.png)", "turns": [turn(CARD)]}) + "\n"),
         Stored([CARD])),
    # -- a link to a regular file is that file, and its data set says which ------------------------------------
    Case("elsewhere.txt", link_to(str(SAMPLE_DIALOGUES.parent / "turns.csv")), Stored([], source_is="turns.csv")),
]


@pytest.mark.parametrize("name", ["unclosed_header_quote.csv", "stray_quote_header.csv", "noise.csv", "utf16_no_bom.csv"])
def test_the_mapping_forms_header_read_refuses_a_broken_file_in_one_line(name, tmp_path):
    """The studio reads a CSV's header alone to offer its columns: the same file gets the same message there."""
    (case,) = [case for case in CASES if case.name == name]
    path = tmp_path / name
    case.make(path)
    with pytest.raises(IngestError) as refused:
        csv_columns(path)
    message = str(refused.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    assert re.search(case.expect.problem, message.removeprefix(f"{name}: ")), message


def snapshot(workspace: Path) -> dict[str, tuple]:
    """Every table's row count and a digest of its rows, in a read-only connection."""
    with duckdb.connect(str(workspace), read_only=True) as connection:
        tables = [name for (name,) in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        return {
            table: connection.execute(f'SELECT count(*), md5(coalesce(string_agg(t::VARCHAR, chr(31) ORDER BY t::VARCHAR), \'\')) '
                                      f'FROM "{table}" t').fetchone()
            for table in tables
        }


@pytest.fixture(scope="module")
def stocked_workspace(tmp_path_factory) -> Path:
    """A workspace holding the sample dialogues, copied for each file so every case starts from the same tables."""
    workspace = tmp_path_factory.mktemp("stocked") / "w.duckdb"
    assert main(["ingest", str(SAMPLE_DIALOGUES), "--workspace", str(workspace)]) == 0
    return workspace


def test_the_corpus_is_large_and_names_each_file_once():
    assert len(CASES) >= 50
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_file_is_stored_as_read_or_refused_in_one_line_with_nothing_changed(case, stocked_workspace, tmp_path, capsys):
    workspace = tmp_path / "w.duckdb"
    shutil.copy(stocked_workspace, workspace)
    before = snapshot(workspace)
    folder = tmp_path / "input"
    folder.mkdir()
    path = folder / case.name
    case.make(path)
    capsys.readouterr()

    code = main(["ingest", str(path), "--workspace", str(workspace), *case.args])

    out, err = capsys.readouterr()
    if isinstance(case.expect, Refused):
        assert code == 2, out
        assert err.endswith("\n") and err.count("\n") == 1, err
        assert err.startswith(f"error: {case.name}: "), err
        assert re.search(case.expect.problem, err.removeprefix(f"error: {case.name}: ")), err
        assert snapshot(workspace) == before
        return
    assert code == 0, err
    dataset_id = json.loads(out)["dataset_id"]
    with duckdb.connect(str(workspace), read_only=True) as connection:
        texts = [text for (text,) in connection.execute(
            "SELECT u.text FROM utterances u WHERE u.dataset_id = ? ORDER BY u.utterance_id", [dataset_id]).fetchall()]
        source = connection.execute("SELECT source FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone()[0]
    if case.expect.source_is is None:
        assert texts == case.expect.texts
        assert Path(source) == path.resolve()
    else:
        assert texts and Path(source).name == case.expect.source_is
    for text in texts:
        assert text == text.strip() and not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069]", text), text
