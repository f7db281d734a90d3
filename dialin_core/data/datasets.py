"""Files into stored data sets: parse, de-duplicate, and store in one step.

Ingesting the same bytes with the same options twice returns the stored data set instead of a copy,
so re-running a command on a file reuses its data set and its cached embeddings.
"""

from dataclasses import asdict
from pathlib import Path

from dialin_core.data.ingest import ColumnMapping, file_hash, staged_batches
from dialin_core.data.store import Store


def ingest_file(
    store: Store,
    path: str | Path,
    mapping: ColumnMapping | None = None,
    *,
    mask_pii: bool = False,
    name: str | None = None,
) -> int:
    """The id of the data set holding `path`; parse errors raise IngestError before anything is written.

    The file is streamed into the workspace (a batch of rows at a time), so its size is bounded by disk, not memory."""
    path = Path(path)
    options = {"mapping": asdict(mapping) if mapping else None, "mask_pii": mask_pii}
    content_hash = file_hash(path)
    existing = store.find_dataset(content_hash, options)
    if existing is not None:
        return existing
    return store.add_dataset(
        name=name or path.name,
        source=str(path.resolve()),
        format=path.suffix.lstrip(".").lower() or "text",
        content_hash=content_hash,
        options=options,
        batches=staged_batches(path, mapping, mask_pii=mask_pii),
    )
