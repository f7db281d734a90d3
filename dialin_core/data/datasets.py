"""Files into stored data sets: parse, de-duplicate, and store in one step.

Ingesting the same bytes with the same options twice returns the stored data set instead of a copy,
so re-running a command on a file reuses its data set and its cached embeddings.
"""

import hashlib
from dataclasses import asdict
from pathlib import Path

from dialin_core.data.ingest import ColumnMapping, deduplicate, read_transcripts
from dialin_core.data.language import detect_language
from dialin_core.data.store import Store


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(
    store: Store,
    path: str | Path,
    mapping: ColumnMapping | None = None,
    *,
    mask_pii: bool = False,
    name: str | None = None,
) -> int:
    """The id of the data set holding `path`; parse errors raise IngestError before anything is written."""
    path = Path(path)
    turns = read_transcripts(path, mapping, mask_pii=mask_pii)
    options = {"mapping": asdict(mapping) if mapping else None, "mask_pii": mask_pii}
    content_hash = file_hash(path)
    existing = store.find_dataset(content_hash, options)
    if existing is not None:
        return existing
    utterances = deduplicate(turns)
    return store.add_dataset(
        name=name or path.name,
        source=str(path.resolve()),
        format=path.suffix.lstrip(".").lower() or "text",
        content_hash=content_hash,
        options=options,
        turns=turns,
        utterances=utterances,
        language=detect_language([u.text for u in utterances]),
    )
