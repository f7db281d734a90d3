"""Transcript files (CSV/TSV, JSONL/JSON, plain text) into turns, and turns into unique utterances.

This is the edge where user files are validated: every problem a user can cause with a file becomes
an `IngestError` naming the file (and line), so nothing downstream re-checks its input. Reading never
writes anywhere, so a failed import cannot touch stored data.
"""

import codecs
import csv
import io
import json
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal, NamedTuple

import charset_normalizer

from dialin_core.data import pii
from dialin_core.errors import IngestError

Role = Literal["customer", "agent", "other"]
FilePath = str | PathLike[str]

MAX_FILE_BYTES = 512 * 1024 * 1024

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
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _format_size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{round(size, 1):g} {unit}"
        size /= 1024
    return f"{round(size, 1):g} TiB"


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; the size is checked first so an oversized file fails without being read."""
    try:
        status = path.stat()
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(status.st_mode):  # a device or pipe reads forever (its size says 0)
            raise IngestError(path, "is not a regular file (a device, pipe or socket): save the transcripts to a file first")
        size = status.st_size
        if size > max_bytes:
            limits = f"file is {_format_size(size)}, over the {_format_size(max_bytes)} limit"
            raise IngestError(path, f"{limits}; split it into smaller files or raise the limit")
        return path.read_bytes()
    except FileNotFoundError:
        raise IngestError(path, "file not found") from None
    except IsADirectoryError:
        raise IngestError(path, "is a folder, not a file") from None
    except OSError as err:  # permission denied, a file used as a folder, ...
        raise IngestError(path, f"cannot be read: {err.strerror}") from None


def _decode(path: Path, raw: bytes) -> str:
    """The text of a file, with any byte-order mark removed.

    Policy, in order:
    1. A UTF-16 or UTF-32 byte-order mark decides the encoding.
    2. NUL bytes in the first 8 KiB mean a binary file (or BOM-less UTF-16): refused.
    3. Strict UTF-8, after dropping a UTF-8 byte-order mark.
    4. Mixed encodings are refused, naming the first line that is not UTF-8: when UTF-8 fails but
       the file has a UTF-8 BOM or another non-ASCII line that is valid UTF-8, it is typically a
       UTF-8 file with a line pasted from a Latin-1 source, and any single encoding would garble
       part of it. (A short GB18030 line can by chance be valid UTF-8; such a file is refused too.)
    5. Otherwise the whole file is one legacy encoding: GB18030 or Windows-1252 (Latin-1 plus
       curly quotes and dashes), as charset_normalizer judges, else Latin-1. Text that then holds
       control characters is refused as binary.
    """
    for bom, encoding in _UNICODE_BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding.lower())
            except UnicodeDecodeError as err:
                problem = f"starts like {encoding} text but is not valid {encoding} ({err.reason})"
                raise IngestError(path, f"{problem}; re-save it as UTF-8") from None
    body = raw.removeprefix(codecs.BOM_UTF8)
    has_utf8_bom = len(body) < len(raw)
    if b"\0" in body[:8192]:
        raise IngestError(path, "looks like a binary file, not text (found NUL bytes); if it is UTF-16, save as UTF-8")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        bad_line = body.count(b"\n", 0, err.start) + 1
    if has_utf8_bom or _has_utf8_line(body):
        problem = "not valid UTF-8 while other lines are; the file mixes encodings — re-save it as UTF-8"
        raise IngestError(path, problem, line=bad_line)
    guess = charset_normalizer.from_bytes(body, cp_isolation=_LEGACY_ENCODINGS).best()
    try:
        text = body.decode(guess.encoding if guess else "latin-1")
    except UnicodeDecodeError:  # on large files the guess rests on samples; a later part disagrees
        text = body.decode("latin-1")
    if _BINARY_CONTROLS.search(text):
        raise IngestError(path, "looks like a binary file, not text (no text encoding fits its bytes)")
    return text


def _has_utf8_line(body: bytes) -> bool:
    """Whether some line is non-ASCII valid UTF-8: evidence that the file was meant as UTF-8."""
    for line in body.split(b"\n"):
        if not line.isascii():
            try:
                line.decode("utf-8")
                return True
            except UnicodeDecodeError:
                continue
    return False


def _load_text(path: Path, max_bytes: int) -> str:
    text = _decode(path, _read_bytes(path, max_bytes))
    if not text.strip():
        raise IngestError(path, "file is empty")
    return text


# --- raw turns to Turn records ----------------------------------------------------------------------


# Terminal escape sequences, other control characters, and the invisible zero-width and bidirectional
# marks (which can hide or reorder what an analyst reads); ZWNJ and ZWJ stay, as Persian words and emoji need them.
_INVISIBLE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean(text: str) -> str:
    """What is clustered, shown and stored as clean text: visible characters, whitespace collapsed."""
    return " ".join(_INVISIBLE.sub("", text).split())


def _assemble(path: Path, rows: list[_RawTurn], mask_pii: bool, nothing_found: str) -> list[Turn]:
    """Turns numbered 0.. within each dialogue by `order`; dialogues in order of first appearance. A turn with
    nothing visible in it (only spaces, control or zero-width characters) is no turn."""
    for row in rows:
        if _SURROGATE.search(row.text):
            raise IngestError(path, f"dialogue {row.dialogue_id!r} holds a lone surrogate (a \\ud800-\\udfff escape without "
                                    "its pair), which is no character: fix or remove it")
    rows = [row for row in rows if clean(row.text)]
    if not rows:
        raise IngestError(path, f"no utterances found: {nothing_found}")
    by_dialogue: dict[str, list[_RawTurn]] = {}
    for row in rows:
        by_dialogue.setdefault(row.dialogue_id, []).append(row)
    turns = []
    for dialogue_id, group in by_dialogue.items():
        for turn_index, row in enumerate(sorted(group, key=lambda r: r.order)):
            clean_text = clean(row.text)
            # masked in the original text too: a masked data set shows no page and no export the value it hid
            text, clean_text = (pii.mask_pii(row.text), pii.mask_pii(clean_text)) if mask_pii else (row.text, clean_text)
            role = normalise_role(row.speaker)
            turns.append(Turn(dialogue_id, turn_index, row.speaker, role, text, clean_text, row.gold_label))
    return turns


# --- CSV / TSV -----------------------------------------------------------------------------------


def _choose_delimiter(text: str, default: str, columns: list[str]) -> str:
    """csv.Sniffer's pick, unless another delimiter is the only one that shows the mapped columns.

    The header check rescues files the sniffer misreads, e.g. one text column full of commas.
    """
    sample = text[:65536]
    try:
        sniffed = csv.Sniffer().sniff(sample[: sample.rfind("\n") + 1] or sample, delimiters=",;\t|").delimiter
    except csv.Error:
        sniffed = default
    for delimiter in dict.fromkeys([sniffed, default, ",", ";", "\t", "|"]):
        header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
        if set(columns) <= {cell.strip() for cell in header}:
            return delimiter
    return sniffed


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


def csv_columns(path: FilePath, *, max_bytes: int = MAX_FILE_BYTES) -> list[str]:
    """The header of a delimited file, for a column-mapping form to offer."""
    path = Path(path)
    text = _load_text(path, max_bytes)
    delimiter = _choose_delimiter(text, "\t" if path.suffix.lower() == ".tsv" else ",", [])
    header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    if not header:
        raise IngestError(path, "the file is empty: a CSV needs a header row naming its columns", line=1)
    return [cell.strip() for cell in header]


def read_csv(
    path: FilePath, mapping: ColumnMapping, *, mask_pii: bool = False, max_bytes: int = MAX_FILE_BYTES
) -> list[Turn]:
    """Turns from a delimited file with a header row.

    Rows with a blank text cell are skipped: exports often hold system events with no words. Without
    a dialogue column each row is its own dialogue, "row-<line>"; without a turn column turns follow
    file order, otherwise they are sorted by it and renumbered from 0.
    """
    path = Path(path)
    text = _load_text(path, max_bytes)
    fields = {name: getattr(mapping, name) for name in ("text", "dialogue_id", "turn_index", "speaker", "label")}
    wanted = list(dict.fromkeys(column for column in fields.values() if column is not None))
    delimiter = _choose_delimiter(text, "\t" if path.suffix.lower() == ".tsv" else ",", wanted)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [cell.strip() for cell in next(reader)]
    missing = [column for column in wanted if column not in header]
    if missing:
        problem = f"no column named {', '.join(map(repr, missing))}; the columns are {', '.join(map(repr, header))}"
        raise IngestError(path, problem, line=reader.line_num)
    index = {name: header.index(column) for name, column in fields.items() if column is not None}
    rows: list[_RawTurn] = []
    end_of_previous = reader.line_num
    try:
        for record in reader:
            line, end_of_previous = end_of_previous + 1, reader.line_num
            cells = {name: record[i] if i < len(record) else "" for name, i in index.items()}
            if cells["text"].strip():
                rows.append(_csv_row(path, line, cells, mapping, order=len(rows)))
    except csv.Error as err:
        raise IngestError(path, f"malformed CSV: {err}", line=reader.line_num) from None
    return _assemble(path, rows, mask_pii, f"column {mapping.text!r} is empty in every row")


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


def _parse_json(path: Path, source: str, line: int | None) -> object:
    try:
        return json.loads(source)
    except json.JSONDecodeError as err:
        raise IngestError(path, f"not valid JSON: {err.msg} (column {err.colno})", line or err.lineno) from None
    except RecursionError:
        raise IngestError(path, "JSON nested too deeply to be a transcript (lists or objects inside each other thousands deep)",
                          line) from None


def _json_dialogues(path: Path, text: str) -> Iterator[tuple[object, str, int | None, str]]:
    """(dialogue, fallback id, line, where) per dialogue.

    A document starting with "[" is one JSON list of dialogues, and errors name the item; anything
    else is JSON Lines, one dialogue per non-blank line, and errors name the line.
    """
    if text.lstrip().startswith("["):
        for number, dialogue in enumerate(_parse_json(path, text, None), 1):
            yield dialogue, f"item-{number}", None, f"item {number} of the list: "
        return
    for number, line in enumerate(_LINE_BREAK.split(text), 1):
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
    dialogue_id = str(raw_id) if raw_id is not None and str(raw_id).strip() else fallback_id
    rows: list[_RawTurn] = []
    for number, turn in enumerate(turns, 1):
        text = turn.get("utterance", turn.get("text")) if isinstance(turn, dict) else None
        if not isinstance(text, str):
            raise IngestError(path, f'{where}turn {number} of {len(turns)} has no "utterance" or "text" string', line)
        if text.strip():
            speaker = turn.get("speaker", turn.get("role"))
            speaker = "" if speaker is None else str(speaker)
            rows.append(_RawTurn(dialogue_id, first_order + len(rows), speaker, text, _gold_label_of(turn)))
    return rows


def read_jsonl(path: FilePath, *, mask_pii: bool = False, max_bytes: int = MAX_FILE_BYTES) -> list[Turn]:
    """Turns from JSON Lines, one dialogue object per line, or from a JSON list of such objects.

    A dialogue is {"dialogue_id", "turns": [{"speaker" or "role", "utterance" or "text", optional
    "intent" or "active_intents"}]} (the Schema-Guided Dialogue shape). Without a dialogue_id a
    dialogue is named "line-<n>" ("item-<n>" in a list). Turns with blank text are skipped.
    """
    path = Path(path)
    rows: list[_RawTurn] = []
    for dialogue, fallback_id, line, where in _json_dialogues(path, _load_text(path, max_bytes)):
        rows.extend(_dialogue_rows(path, dialogue, fallback_id, line, where, first_order=len(rows)))
    return _assemble(path, rows, mask_pii, "no dialogue has a turn with text")


# --- plain text ------------------------------------------------------------------------------------

_SPEAKER_PREFIX = re.compile(r"\s*(?P<speaker>[A-Za-z]+[ \t]*\d*)[ \t]*:[ \t]*(?P<text>.*)")


def read_text(path: FilePath, *, mask_pii: bool = False, max_bytes: int = MAX_FILE_BYTES) -> list[Turn]:
    """One dialogue, named after the file, with one turn per non-blank line.

    "Agent: hello" is split into speaker and text only when the prefix is a known role word, so a
    line such as "Note: call back at 10:30" stays whole.
    """
    path = Path(path)
    rows: list[_RawTurn] = []
    for line in _LINE_BREAK.split(_load_text(path, max_bytes)):
        prefixed = _SPEAKER_PREFIX.fullmatch(line)
        if prefixed and normalise_role(prefixed["speaker"]) != "other":
            speaker, text = prefixed["speaker"].strip(), prefixed["text"]
        else:
            speaker, text = "", line
        if text.strip():
            rows.append(_RawTurn(path.stem, len(rows), speaker, text, None))
    return _assemble(path, rows, mask_pii, "every line is blank")


# --- any format ------------------------------------------------------------------------------------


def read_transcripts(
    path: FilePath, mapping: ColumnMapping | None = None, *, mask_pii: bool = False, max_bytes: int = MAX_FILE_BYTES
) -> list[Turn]:
    """Turns from a file of any supported format, chosen by suffix; `mapping` applies to CSV/TSV only.

    .csv/.tsv are delimited (text column "text" unless mapped), .jsonl/.json are dialogue objects,
    anything else is plain text. Binary content is refused whatever the suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return read_csv(path, mapping or ColumnMapping(text="text"), mask_pii=mask_pii, max_bytes=max_bytes)
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path, mask_pii=mask_pii, max_bytes=max_bytes)
    return read_text(path, mask_pii=mask_pii, max_bytes=max_bytes)


# --- de-duplication --------------------------------------------------------------------------------


def _dedup_key(clean_text: str) -> str:
    """Case, spacing and trailing punctuation do not make a different utterance ("Hi!" == "hi")."""
    key = " ".join(clean_text.casefold().split())
    end = len(key)
    while end and (key[end - 1].isspace() or unicodedata.category(key[end - 1]).startswith("P")):
        end -= 1
    return key[:end] or key  # all punctuation ("?"): keep it rather than merge every such turn


def deduplicate(turns: Iterable[Turn]) -> list[Utterance]:
    """One Utterance per distinct key, in order of first occurrence; turns with no text are skipped."""
    groups: dict[str, list[Turn]] = {}
    for turn in turns:
        if turn.clean_text:
            groups.setdefault(_dedup_key(turn.clean_text), []).append(turn)
    utterances = []
    for key, group in groups.items():
        labels = Counter(turn.gold_label for turn in group if turn.gold_label is not None)
        # Counter keeps first-seen order and max() returns the first maximum: ties go to the first seen.
        gold_label = max(labels, key=labels.__getitem__) if labels else None
        positions = tuple((turn.dialogue_id, turn.turn_index) for turn in group)
        roles = tuple(sorted({turn.role for turn in group}))
        utterances.append(Utterance(key, group[0].clean_text, len(group), positions, roles, gold_label))
    return utterances
