"""Transcript files (CSV/TSV, JSONL/JSON, plain text) into turns, and turns into unique utterances.

This is the edge where user files are validated: every problem a user can cause with a file becomes
an `IngestError` naming the file (and line), so nothing downstream re-checks its input. Reading never
writes anywhere, so a failed import cannot touch stored data.

Files are read as streams, a row at a time, never whole: the encoding is decided by a pass over the bytes
(block by block), the rows are parsed from a text stream and cleaned in batches, and numbering turns and
folding repeated texts happens in DuckDB SQL (`assembly`). Memory stays bounded by a batch whatever the
file's size; only a JSON document (a list of dialogues), which a parser has to hold whole, keeps a size limit.
"""

import codecs
import csv
import hashlib
import json
import re
import stat
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from os import PathLike
from pathlib import Path
from typing import Literal, NamedTuple, TextIO

import charset_normalizer
import duckdb
import pandas as pd

from dialin_core.data import pii
from dialin_core.data.assembly import STAGED_COLUMNS, Staging, utterances_sql
from dialin_core.errors import IngestError

Role = Literal["customer", "agent", "other"]
FilePath = str | PathLike[str]

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024  # a JSON list of dialogues is parsed whole; JSON Lines, CSV and text stream
BATCH_ROWS = 20_000  # rows cleaned in Python before DuckDB takes them: the memory a file of any size needs
PREVIEW_TURNS = 2_000  # turns a preview reads from the top of a file

_CUSTOMER_WORDS = frozenset("user customer caller client guest member".split())
_AGENT_WORDS = frozenset("system agent bot assistant representative rep operator advisor support".split())


@dataclass(frozen=True)
class Turn:
    dialogue_id: str
    turn_index: int  # position in its dialogue, 0-based, counting only turns with text
    speaker: str  # as written in the file, "" when absent
    role: Role
    text: str  # exactly as read
    clean_text: str  # whitespace collapsed, PII-masked when requested
    gold_label: str | None


@dataclass(frozen=True)
class ColumnMapping:
    """Which CSV columns hold what; only `text` is required."""

    text: str
    dialogue_id: str | None = None
    turn_index: str | None = None
    speaker: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Utterance:
    norm_text: str  # de-duplication key
    text: str  # clean_text of the first occurrence
    frequency: int
    positions: tuple[tuple[str, int], ...]  # (dialogue_id, turn_index) of every occurrence
    roles: tuple[Role, ...]  # distinct, sorted
    gold_label: str | None  # majority gold label, ties to the first seen


class _RawTurn(NamedTuple):
    dialogue_id: str
    order: int  # sort key within the dialogue: turn number from the file, or file position
    speaker: str
    text: str
    gold_label: str | None


def normalise_role(speaker: str) -> Role:
    """The role behind a speaker name, so "USER", "Customer" and "Caller 2:" filter alike."""
    word = speaker.strip().rstrip(" \t:#_-0123456789").casefold()
    if word in _CUSTOMER_WORDS:
        return "customer"
    if word in _AGENT_WORDS:
        return "agent"
    return "other"


# --- bytes to text: the one place encodings are decided -------------------------------------------

_UNICODE_BOMS = (  # UTF-32 first: the UTF-16 LE byte-order mark is a prefix of the UTF-32 LE one
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
# Legacy encodings we accept; detection among many code pages is unreliable on short texts
# (Latin-1 French comes out as Central European), so the choice is kept to these two.
_LEGACY_ENCODINGS = ["gb18030", "cp1252"]
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_BLOCK_BYTES = 1 << 20
_DETECTION_SAMPLE_BYTES = 1 << 20  # non-ASCII lines the legacy-encoding guess reads


def _format_size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{round(size, 1):g} {unit}"
        size /= 1024
    return f"{round(size, 1):g} TiB"


@contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    """OS errors met while reading `path` as one-line IngestErrors."""
    try:
        yield
    except FileNotFoundError:
        raise IngestError(path, "file not found") from None
    except IsADirectoryError:
        raise IngestError(path, "is a folder, not a file") from None
    except OSError as err:  # permission denied, a file used as a folder, ...
        raise IngestError(path, f"cannot be read: {err.strerror}") from None


def _file_size(path: Path) -> int:
    """The size of a regular file; anything else is refused before it is read."""
    with _file_errors(path):
        status = path.stat()
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError
    if not stat.S_ISREG(status.st_mode):  # a device or pipe reads forever (its size says 0)
        raise IngestError(path, "is not a regular file (a device, pipe or socket): save the transcripts to a file first")
    return status.st_size


def file_hash(path: FilePath) -> str:
    """SHA-256 of the file's bytes, read a block at a time: the key that finds a file stored before."""
    path = Path(path)
    _file_size(path)
    digest = hashlib.sha256()
    with _file_errors(path), path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


class _Scan(NamedTuple):
    bad_offset: int | None  # the first byte the encoding cannot decode; None when every byte decodes
    reason: str  # the decoder's word for it
    blank: bool  # nothing but whitespace
    controls: bool  # control characters that no text file holds (checked when asked)


def _scan(path: Path, encoding: str, *, skip: int = 0, controls: bool = False) -> _Scan:
    """Decode the whole file, after its first `skip` bytes, a block at a time, keeping nothing but what the
    encoding decision needs."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, blank, found_controls = skip, True, False
    with _file_errors(path), path.open("rb") as handle:
        handle.seek(skip)
        while True:
            block = handle.read(_BLOCK_BYTES)
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                return _Scan(offset - pending + err.start, err.reason, blank, found_controls)
            blank = blank and not text.strip()
            found_controls = found_controls or (controls and bool(_BINARY_CONTROLS.search(text)))
            if not block:
                return _Scan(None, "", blank, found_controls)
            offset += len(block)


def _line_at(path: Path, offset: int) -> int:
    """The 1-based line holding byte `offset`."""
    line, start = 1, 0
    with path.open("rb") as handle:
        while start < offset and (block := handle.read(min(_BLOCK_BYTES, offset - start))):
            line += block.count(b"\n")
            start += len(block)
    return line


def _non_ascii_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from (line for line in handle if not line.isascii())


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _legacy_sample(path: Path) -> bytes:
    """Up to a MiB of the file's non-ASCII lines: what tells one legacy encoding from another."""
    lines, size = [], 0
    for line in _non_ascii_lines(path):
        lines.append(line)
        size += len(line)
        if size >= _DETECTION_SAMPLE_BYTES:
            break
    return b"".join(lines)


def _text_encoding(path: Path) -> str:
    """The codec that reads `path` as text (a byte-order mark, if any, consumed by it).

    Policy, in order:
    1. A UTF-16 or UTF-32 byte-order mark decides the encoding.
    2. NUL bytes in the first 8 KiB mean a binary file (or BOM-less UTF-16): refused.
    3. Strict UTF-8, after dropping a UTF-8 byte-order mark.
    4. Mixed encodings are refused, naming the first line that is not UTF-8: when UTF-8 fails but
       the file has a UTF-8 BOM or another non-ASCII line that is valid UTF-8, it is typically a
       UTF-8 file with a line pasted from a Latin-1 source, and any single encoding would garble
       part of it. (A short GB18030 line can by chance be valid UTF-8; such a file is refused too.)
    5. Otherwise the whole file is one legacy encoding: GB18030 or Windows-1252 (Latin-1 plus
       curly quotes and dashes), as charset_normalizer judges from the non-ASCII lines, else Latin-1.
       Text that then holds control characters is refused as binary.
    A file of only whitespace is refused as empty. Each step reads the file as a stream.
    """
    _file_size(path)
    with _file_errors(path), path.open("rb") as handle:
        head = handle.read(8192 + len(codecs.BOM_UTF8))
    for bom, name in _UNICODE_BOMS:
        if head.startswith(bom):
            scan = _scan(path, name.lower())
            if scan.bad_offset is not None:
                problem = f"starts like {name} text but is not valid {name} ({scan.reason})"
                raise IngestError(path, f"{problem}; re-save it as UTF-8")
            return _unless_blank(path, scan, name.lower())
    has_utf8_bom = head.startswith(codecs.BOM_UTF8)
    if b"\0" in head.removeprefix(codecs.BOM_UTF8)[:8192]:
        raise IngestError(path, "looks like a binary file, not text (found NUL bytes); if it is UTF-16, save as UTF-8")
    scan = _scan(path, "utf-8", skip=len(codecs.BOM_UTF8) if has_utf8_bom else 0)
    if scan.bad_offset is None:
        return _unless_blank(path, scan, "utf-8-sig")
    if has_utf8_bom or any(_is_utf8(line) for line in _non_ascii_lines(path)):
        problem = "not valid UTF-8 while other lines are; the file mixes encodings — re-save it as UTF-8"
        raise IngestError(path, problem, line=_line_at(path, scan.bad_offset))
    guess = charset_normalizer.from_bytes(_legacy_sample(path), cp_isolation=_LEGACY_ENCODINGS).best()
    # the guess rests on a sample; where a later part disagrees, Latin-1 (which decodes any byte) reads it
    for encoding in dict.fromkeys([guess.encoding if guess else "latin-1", "latin-1"]):
        scan = _scan(path, encoding, controls=True)
        if scan.bad_offset is None:
            if scan.controls:
                raise IngestError(path, "looks like a binary file, not text (no text encoding fits its bytes)")
            return _unless_blank(path, scan, encoding)
    raise AssertionError("Latin-1 decodes every byte")


def _unless_blank(path: Path, scan: _Scan, encoding: str) -> str:
    if scan.blank:
        raise IngestError(path, "file is empty")
    return encoding


@contextmanager
def _text_stream(path: Path) -> Iterator[TextIO]:
    """The file as a text stream in its encoding, lines split at \\n, \\r\\n or \\r and handed over untranslated
    (the csv module's own convention)."""
    encoding = _text_encoding(path)
    with _file_errors(path), path.open("r", encoding=encoding, newline="") as handle:
        yield handle


def _lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    """(1-based number, line without its line break) for each line of a text stream."""
    for number, line in enumerate(handle, 1):
        yield number, line.rstrip("\r\n")


# --- raw turns to staged rows ----------------------------------------------------------------------


# Terminal escape sequences, other control characters, and the invisible zero-width and bidirectional
# marks (which can hide or reorder what an analyst reads); ZWNJ and ZWJ stay, as Persian words and emoji need them.
_INVISIBLE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean(text: str) -> str:
    """What is clustered, shown and stored as clean text: visible characters, whitespace collapsed."""
    return " ".join(_INVISIBLE.sub("", text).split())


def _staged_batches(
    path: Path, rows: Iterable[_RawTurn], mask_pii: bool, nothing_found: str, batch_rows: int = BATCH_ROWS
) -> Iterator[pd.DataFrame]:
    """Raw turns as batches of staged rows (columns `assembly.STAGED_COLUMNS`): cleaned, PII-masked when asked,
    with their role and de-duplication key. A turn with nothing visible in it (only spaces, control or
    zero-width characters) is no turn; a file with no turn at all is refused."""
    batch: list[tuple] = []
    staged = 0
    for seq, row in enumerate(rows):
        if _SURROGATE.search(row.text):
            raise IngestError(path, f"dialogue {row.dialogue_id!r} holds a lone surrogate (a \\ud800-\\udfff escape without "
                                    "its pair), which is no character: fix or remove it")
        clean_text = clean(row.text)
        if not clean_text:
            continue
        # masked in the original text too: a masked data set shows no page and no export the value it hid
        text, clean_text = (pii.mask_pii(row.text), pii.mask_pii(clean_text)) if mask_pii else (row.text, clean_text)
        batch.append((seq, row.dialogue_id, row.order, row.speaker, normalise_role(row.speaker), text, clean_text,
                      _dedup_key(clean_text), row.gold_label))
        if len(batch) >= batch_rows:
            yield pd.DataFrame.from_records(batch, columns=list(STAGED_COLUMNS))
            staged += len(batch)
            batch = []
    if not staged and not batch:
        raise IngestError(path, f"no utterances found: {nothing_found}")
    if batch:
        yield pd.DataFrame.from_records(batch, columns=list(STAGED_COLUMNS))


# --- CSV / TSV -----------------------------------------------------------------------------------


def _choose_delimiter(sample: str, default: str, columns: list[str]) -> str:
    """csv.Sniffer's pick on the file's first 64 KiB, unless another delimiter is the only one that shows the
    mapped columns.

    The header check rescues files the sniffer misreads, e.g. one text column full of commas.
    """
    try:
        sniffed = csv.Sniffer().sniff(sample[: sample.rfind("\n") + 1] or sample, delimiters=",;\t|").delimiter
    except csv.Error:
        sniffed = default
    for delimiter in dict.fromkeys([sniffed, default, ",", ";", "\t", "|"]):
        header = next(csv.reader(sample.splitlines(keepends=True), delimiter=delimiter), [])
        if set(columns) <= {cell.strip() for cell in header}:
            return delimiter
    return sniffed


@contextmanager
def _csv_reader(path: Path, columns: list[str]) -> Iterator["csv._reader"]:
    """A csv.reader over the file, its delimiter chosen from the first 64 KiB."""
    with _text_stream(path) as handle:
        sample = handle.read(65536)
        handle.seek(0)
        delimiter = _choose_delimiter(sample, "\t" if path.suffix.lower() == ".tsv" else ",", columns)
        yield csv.reader(handle, delimiter=delimiter, strict=True)  # strict: a quote left open is an error, not the rest of the file


# Column names that usually hold each field, most telling first (BANKING77 calls its intents "category",
# CLINC "intent", many exports "label"); matched case-insensitively.
COLUMN_GUESSES: dict[str, tuple[str, ...]] = {
    "text": ("text", "utterance", "sentence", "message", "query", "content", "transcript"),
    "dialogue_id": ("dialogue_id", "dialog_id", "conversation_id", "conversation", "call_id", "session_id", "ticket_id"),
    "turn_index": ("turn_index", "turn", "turn_id", "position", "seq", "sequence"),
    "speaker": ("speaker", "role", "author", "sender", "party"),
    "label": ("label", "intent", "category", "gold_label", "gold", "class", "topic"),
}


def suggest_mapping(columns: Sequence[str]) -> dict[str, str | None]:
    """For each field of ColumnMapping, the column that most likely holds it (None where none looks like it)."""
    by_lower = {c.lower(): c for c in reversed(columns)}  # the first column of a name wins
    return {field: next((by_lower[g] for g in guesses if g in by_lower), None) for field, guesses in COLUMN_GUESSES.items()}


def csv_columns(path: FilePath) -> list[str]:
    """The header of a delimited file, for a column-mapping form to offer."""
    path = Path(path)
    with _csv_reader(path, []) as reader:
        _, header = next(_records(path, reader), (1, []))
    if not header:
        raise IngestError(path, "the file is empty: a CSV needs a header row naming its columns", line=1)
    return [cell.strip() for cell in header]


def _csv_rows(path: Path, mapping: ColumnMapping) -> Iterator[_RawTurn]:
    """Rows with a blank text cell are skipped: exports often hold system events with no words. Without a
    dialogue column each row is its own dialogue, "row-<line>"; without a turn column turns follow file order,
    otherwise they are sorted by it and renumbered from 0."""
    fields = {name: getattr(mapping, name) for name in ("text", "dialogue_id", "turn_index", "speaker", "label")}
    wanted = list(dict.fromkeys(column for column in fields.values() if column is not None))
    with _csv_reader(path, wanted) as reader:
        records = _records(path, reader)
        header = [cell.strip() for cell in next(records, (1, []))[1]]
        missing = [column for column in wanted if column not in header]
        if missing:
            problem = f"no column named {', '.join(map(repr, missing))}; the columns are {', '.join(map(repr, header))}"
            raise IngestError(path, problem, line=reader.line_num)
        repeated = [column for column in wanted if header.count(column) > 1]
        if repeated:  # which of the two holds the text is anybody's guess
            problem = f"the header names {', '.join(map(repr, repeated))} more than once; name each column once"
            raise IngestError(path, problem, line=reader.line_num)
        index = {name: header.index(column) for name, column in fields.items() if column is not None}
        order = 0
        for line, record in records:
            cells = {name: record[i] if i < len(record) else "" for name, i in index.items()}
            if cells["text"].strip():
                yield _csv_row(path, line, cells, mapping, order)
                order += 1


def _records(path: Path, reader: "csv._reader") -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its cells) for each record, the header's too; malformed CSV is one IngestError
    naming the line."""
    end_of_previous = 0
    try:
        for record in reader:
            yield end_of_previous + 1, record
            end_of_previous = reader.line_num
    except csv.Error as err:
        if str(err) == "unexpected end of data":  # a quote opened and never closed swallows every line after it
            problem = 'a quoted cell starts here and is never closed (its closing " is missing)'
            raise IngestError(path, problem, line=end_of_previous + 1) from None
        if str(err).startswith("field larger than field limit"):  # csv's guard against a runaway cell
            problem = (f"a cell starting here holds more than {csv.field_size_limit():,} characters, far more than any "
                       "utterance: usually a quote that opens a cell and closes many lines below; a text file (.txt, one "
                       "utterance a line) or JSON Lines has no such limit")
            raise IngestError(path, problem, line=end_of_previous + 1) from None
        hint = "; a quote inside a quoted cell is written twice (\"\")" if "expected after '\"'" in str(err) else ""
        raise IngestError(path, f"malformed CSV: {err}{hint}", line=reader.line_num) from None


def _csv_row(path: Path, line: int, cells: dict[str, str], mapping: ColumnMapping, order: int) -> _RawTurn:
    dialogue_id = cells["dialogue_id"].strip() if mapping.dialogue_id else f"row-{line}"
    if not dialogue_id:
        raise IngestError(path, f"column {mapping.dialogue_id!r} is empty; every row needs a dialogue id", line)
    if mapping.turn_index:
        try:
            order = int(cells["turn_index"])
        except ValueError:
            problem = f"column {mapping.turn_index!r} should hold a whole number, not {cells['turn_index']!r}"
            raise IngestError(path, problem, line) from None
    gold_label = cells.get("label", "").strip() or None
    return _RawTurn(dialogue_id, order, cells.get("speaker", ""), cells["text"], gold_label)


# --- JSON Lines / JSON -------------------------------------------------------------------------------


def _json_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _is_scalar(value: object) -> bool:
    """A JSON value that reads as a name (an id, a speaker): a string, a number or null, not a list or object."""
    return value is None or isinstance(value, (str, int, float))


def _parse_json(path: Path, source: str, line: int | None) -> object:
    try:
        return json.loads(source)
    except json.JSONDecodeError as err:
        raise IngestError(path, f"not valid JSON: {err.msg} (column {err.colno})", line or err.lineno) from None
    except RecursionError:
        raise IngestError(path, "JSON nested too deeply to be a transcript (lists or objects inside each other thousands deep)",
                          line) from None
    except ValueError:  # Python's own guard against quadratic work: a number thousands of digits long
        raise IngestError(path, f"holds a number over {sys.get_int_max_str_digits()} digits long, which no transcript field is",
                          line) from None


def _json_dialogues(path: Path, max_bytes: int) -> Iterator[tuple[object, str, int | None, str]]:
    """(dialogue, fallback id, line, where) per dialogue.

    A document starting with "[" is one JSON list of dialogues, parsed whole (so under `max_bytes`), and errors
    name the item; anything else is JSON Lines, read a line at a time, one dialogue per non-blank line, and
    errors name the line.
    """
    with _text_stream(path) as handle:
        head = handle.read(4096)
        while head.isspace():
            head = handle.read(4096)
        handle.seek(0)
        if head.lstrip().startswith("["):
            size = _file_size(path)
            if size > max_bytes:
                limits = f"file is {_format_size(size)}, over the {_format_size(max_bytes)} limit for a JSON list, which is read whole"
                raise IngestError(path, f"{limits}; write it as JSON Lines (one dialogue a line, read as a stream) or raise the limit")
            for number, dialogue in enumerate(_parse_json(path, handle.read(), None), 1):
                yield dialogue, f"item-{number}", None, f"item {number} of the list: "
            return
        for number, line in _lines(handle):
            if line.strip():
                yield _parse_json(path, line, number), f"line-{number}", number, ""


def _gold_label_of(turn: dict) -> str | None:
    intent = turn.get("intent")
    if isinstance(intent, str) and intent.strip():
        return intent.strip()
    active = turn.get("active_intents")
    if isinstance(active, list) and active and isinstance(active[0], str):
        return active[0]
    return None


def _dialogue_rows(
    path: Path, dialogue: object, fallback_id: str, line: int | None, where: str, first_order: int
) -> list[_RawTurn]:
    if not isinstance(dialogue, dict):
        raise IngestError(path, f"{where}expected a dialogue object, found {_json_name(dialogue)}", line)
    turns = dialogue.get("turns")
    if not isinstance(turns, list):
        found = f"it is {_json_name(turns)}" if "turns" in dialogue else f"keys are {', '.join(map(repr, dialogue))}"
        raise IngestError(path, f'{where}dialogue has no "turns" list ({found})', line)
    raw_id = dialogue.get("dialogue_id")
    if not _is_scalar(raw_id):
        raise IngestError(path, f'{where}"dialogue_id" is {_json_name(raw_id)}, not a string or number', line)
    dialogue_id = str(raw_id) if raw_id is not None and str(raw_id).strip() else fallback_id
    rows: list[_RawTurn] = []
    for number, turn in enumerate(turns, 1):
        text = turn.get("utterance", turn.get("text")) if isinstance(turn, dict) else None
        if not isinstance(text, str):
            raise IngestError(path, f'{where}turn {number} of {len(turns)} has no "utterance" or "text" string', line)
        if text.strip():
            speaker = turn.get("speaker", turn.get("role"))
            if not _is_scalar(speaker):
                raise IngestError(path, f'{where}turn {number} of {len(turns)} has a speaker that is {_json_name(speaker)}, '
                                        "not a string or number", line)
            speaker = "" if speaker is None else str(speaker)
            rows.append(_RawTurn(dialogue_id, first_order + len(rows), speaker, text, _gold_label_of(turn)))
    return rows


def _jsonl_rows(path: Path, max_bytes: int) -> Iterator[_RawTurn]:
    """A dialogue is {"dialogue_id", "turns": [{"speaker" or "role", "utterance" or "text", optional "intent" or
    "active_intents"}]} (the Schema-Guided Dialogue shape). Without a dialogue_id a dialogue is named
    "line-<n>" ("item-<n>" in a list). Turns with blank text are skipped."""
    order = 0
    for dialogue, fallback_id, line, where in _json_dialogues(path, max_bytes):
        rows = _dialogue_rows(path, dialogue, fallback_id, line, where, first_order=order)
        order += len(rows)
        yield from rows


# --- plain text ------------------------------------------------------------------------------------

_SPEAKER_PREFIX = re.compile(r"\s*(?P<speaker>[A-Za-z]+[ \t]*\d*)[ \t]*:[ \t]*(?P<text>.*)")


def _text_rows(path: Path) -> Iterator[_RawTurn]:
    """One dialogue, named after the file, with one turn per non-blank line.

    "Agent: hello" is split into speaker and text only when the prefix is a known role word, so a
    line such as "Note: call back at 10:30" stays whole.
    """
    order = 0
    with _text_stream(path) as handle:
        for _, line in _lines(handle):
            prefixed = _SPEAKER_PREFIX.fullmatch(line)
            if prefixed and normalise_role(prefixed["speaker"]) != "other":
                speaker, text = prefixed["speaker"].strip(), prefixed["text"]
            else:
                speaker, text = "", line
            if text.strip():
                yield _RawTurn(path.stem, order, speaker, text, None)
                order += 1


# --- any format ------------------------------------------------------------------------------------


def _rows(path: Path, mapping: ColumnMapping | None, max_bytes: int) -> tuple[Iterator[_RawTurn], str]:
    """The raw turns of a file of any supported format, chosen by suffix, and what to say when it has none."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        mapping = mapping or ColumnMapping(text="text")
        return _csv_rows(path, mapping), f"column {mapping.text!r} is empty in every row"
    if suffix in (".jsonl", ".json"):
        return _jsonl_rows(path, max_bytes), "no dialogue has a turn with text"
    return _text_rows(path), "every line is blank"


def staged_batches(
    path: FilePath,
    mapping: ColumnMapping | None = None,
    *,
    mask_pii: bool = False,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pd.DataFrame]:
    """A file of any supported format as batches of staged rows for `assembly.Staging`; `mapping` applies to
    CSV/TSV only. Lazy: the file is read, and its problems raised, as the batches are taken.

    .csv/.tsv are delimited (text column "text" unless mapped), .jsonl/.json are dialogue objects,
    anything else is plain text. Binary content is refused whatever the suffix.
    """
    path = Path(path)
    rows, nothing_found = _rows(path, mapping, max_bytes)
    return _staged_batches(path, rows, mask_pii, nothing_found, batch_rows)


def _assembled_turns(batches: Iterable[pd.DataFrame]) -> list[Turn]:
    with duckdb.connect() as connection, Staging(connection) as staging:
        staging.add(batches)
        staging.number_turns()
        rows = connection.execute(
            f"SELECT dialogue_id, turn_index, speaker, role, text, clean_text, gold_label FROM {staging.turns} ORDER BY pos"
        ).fetchall()
    return [Turn(*row) for row in rows]


def read_transcripts(
    path: FilePath, mapping: ColumnMapping | None = None, *, mask_pii: bool = False, max_bytes: int = MAX_DOCUMENT_BYTES
) -> list[Turn]:
    """Every turn of a file (see `staged_batches`), in memory: for labelled sets and dialogues a command reads whole.
    A workspace stores a file without holding its turns (`datasets.ingest_file`)."""
    return _assembled_turns(staged_batches(path, mapping, mask_pii=mask_pii, max_bytes=max_bytes))


def preview_transcripts(
    path: FilePath, mapping: ColumnMapping | None = None, *, mask_pii: bool = False, max_turns: int = PREVIEW_TURNS
) -> tuple[list[Turn], bool]:
    """The turns among the file's first `max_turns`, and whether that was the whole file: what an upload form
    shows before storing, read in a moment whatever the file's size. Problems further down the file show when
    it is stored."""
    path = Path(path)
    rows, nothing_found = _rows(path, mapping, MAX_DOCUMENT_BYTES)
    try:
        head = list(islice(rows, max_turns + 1))
    finally:
        rows.close()  # the file, left open by a stream read only to its head
    turns = _assembled_turns(_staged_batches(path, head[:max_turns], mask_pii, nothing_found))
    return turns, len(head) <= max_turns


# --- de-duplication --------------------------------------------------------------------------------


def _dedup_key(clean_text: str) -> str:
    """Case, spacing and trailing punctuation do not make a different utterance ("Hi!" == "hi")."""
    key = " ".join(clean_text.casefold().split())
    end = len(key)
    while end and (key[end - 1].isspace() or unicodedata.category(key[end - 1]).startswith("P")):
        end -= 1
    return key[:end] or key  # all punctuation ("?"): keep it rather than merge every such turn


def deduplicate(turns: Iterable[Turn]) -> list[Utterance]:
    """One Utterance per distinct key, in order of first occurrence; turns with no text are skipped. The rules
    are `assembly`'s, which a workspace applies to a stored file."""
    frame = pd.DataFrame.from_records(
        [(pos, t.dialogue_id, t.turn_index, t.role, t.clean_text, _dedup_key(t.clean_text), t.gold_label)
         for pos, t in enumerate(turns) if t.clean_text],
        columns=["pos", "dialogue_id", "turn_index", "role", "clean_text", "norm_text", "gold_label"],
    )
    if frame.empty:
        return []
    with duckdb.connect() as connection:
        connection.register("turns", frame)
        rows = connection.execute(
            f"SELECT norm_text, text, frequency, positions, roles, gold_label FROM ({utterances_sql('turns', positions=True)})"
        ).fetchall()
    return [
        Utterance(norm_text, text, frequency, tuple((p["dialogue_id"], p["turn_index"]) for p in positions), tuple(roles), gold)
        for norm_text, text, frequency, positions, roles, gold in rows
    ]
