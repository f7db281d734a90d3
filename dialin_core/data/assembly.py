"""Parsed rows into numbered turns and unique utterances, in DuckDB SQL over a staging table.

A transcript file is read as a stream of rows (see `ingest`); the two steps that need the whole file, numbering
each dialogue's turns and folding repeated texts into one utterance, run here as SQL. DuckDB sorts and groups
out of core, so a file of any size is assembled with the memory of one batch of rows in Python. The same SQL
serves a workspace (`Store.add_dataset`) and the in-memory readers (`ingest.read_transcripts`,
`ingest.deduplicate`): one place for each rule.

The rules, as an analyst sees them:
- Dialogues keep the order in which they first appear in the file; a dialogue's turns are numbered 0, 1, ...
  by the file's turn column where it has one (ties keep file order), else by file order.
- Utterances are numbered in order of first occurrence (dialogue by dialogue, turn by turn); an utterance's
  text is its first occurrence's, its gold label the majority of its occurrences' labels, ties to the first seen.
"""

from collections.abc import Iterable
from uuid import uuid4

import duckdb
import pandas as pd

# One parsed row: `seq` its position in the file, `ord` its sort key within its dialogue, `norm_text` the
# de-duplication key. Rows without visible text are never staged.
STAGED_COLUMNS = ("seq", "dialogue_id", "ord", "speaker", "role", "text", "clean_text", "norm_text", "gold_label")
_STAGED_SCHEMA = (
    "seq BIGINT, dialogue_id VARCHAR, ord BIGINT, speaker VARCHAR, role VARCHAR, text VARCHAR, "
    "clean_text VARCHAR, norm_text VARCHAR, gold_label VARCHAR"
)


def numbered_turns_sql(staged: str) -> str:
    """The staged rows as turns: `turn_index` within the dialogue and `pos`, the turn's place in the data set."""
    return f"""
        SELECT (row_number() OVER (ORDER BY dialogue_seq, turn_index) - 1)::BIGINT AS pos, * EXCLUDE (dialogue_seq)
        FROM (
            SELECT dialogue_id,
                   (row_number() OVER (PARTITION BY dialogue_id ORDER BY ord, seq) - 1)::INTEGER AS turn_index,
                   speaker, role, text, clean_text, norm_text, gold_label,
                   min(seq) OVER (PARTITION BY dialogue_id) AS dialogue_seq
            FROM {staged}
        )
    """


def utterances_sql(turns: str, *, positions: bool = False) -> str:
    """One row per `norm_text` of a turns table (with `pos`), numbered by first occurrence; `positions` adds the
    (dialogue_id, turn_index) of every occurrence, which only the in-memory reader returns."""
    positions_column = (
        ", list({'dialogue_id': dialogue_id, 'turn_index': turn_index} ORDER BY pos) AS positions" if positions else ""
    )
    return f"""
        WITH label_counts AS (
            SELECT norm_text, gold_label, count(*) AS n, min(pos) AS first_pos
            FROM {turns} WHERE gold_label IS NOT NULL GROUP BY norm_text, gold_label
        ), majority AS (
            SELECT norm_text, gold_label FROM label_counts
            QUALIFY row_number() OVER (PARTITION BY norm_text ORDER BY n DESC, first_pos) = 1
        ), groups AS (
            SELECT norm_text, min(pos) AS first_pos, arg_min(clean_text, pos) AS text, count(*)::INTEGER AS frequency,
                   list_sort(list_distinct(list(role))) AS roles {positions_column}
            FROM {turns} GROUP BY norm_text
        )
        SELECT (row_number() OVER (ORDER BY g.first_pos) - 1)::INTEGER AS utterance_id, g.* EXCLUDE (first_pos),
               m.gold_label
        FROM groups g LEFT JOIN majority m USING (norm_text)
        ORDER BY utterance_id
    """


class Staging:
    """Temporary tables on `connection` holding one file's rows, its numbered turns and its utterances; dropped
    on exit, so a file that fails halfway leaves nothing behind. Temporary tables are private to the connection
    and spill to disk past DuckDB's memory limit."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        suffix = uuid4().hex[:12]
        self.rows, self.turns, self.utterances = (f"staged_{name}_{suffix}" for name in ("rows", "turns", "utterances"))

    def __enter__(self) -> "Staging":
        self.connection.execute(f"CREATE TEMP TABLE {self.rows} ({_STAGED_SCHEMA})")
        return self

    def __exit__(self, *_: object) -> None:
        for table in (self.rows, self.turns, self.utterances):
            self.connection.execute(f"DROP TABLE IF EXISTS temp.{table}")

    def add(self, batches: Iterable[pd.DataFrame]) -> None:
        """Stage each batch of parsed rows (columns STAGED_COLUMNS) as it comes."""
        view = f"batch_{self.rows}"
        for batch in batches:
            self.connection.register(view, batch)
            try:
                self.connection.execute(f"INSERT INTO {self.rows} SELECT {', '.join(STAGED_COLUMNS)} FROM {view}")
            finally:
                self.connection.unregister(view)

    def number_turns(self) -> None:
        """Number the staged rows' turns into `self.turns` (the rules in this module's docstring)."""
        self.connection.execute(f"CREATE TEMP TABLE {self.turns} AS {numbered_turns_sql(self.rows)}")

    def fold_utterances(self) -> None:
        """Fold the numbered turns' texts into `self.utterances` (after `number_turns`)."""
        self.connection.execute(f"CREATE TEMP TABLE {self.utterances} AS {utterances_sql(self.turns)}")
