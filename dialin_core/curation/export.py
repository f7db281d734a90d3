"""The curated data set of a reviewed run: its utterances with their intents, two fine-tuning sets, a data card.

Everything is read from the review state (`review.review_state`), the fold of the analyst's active
decisions over the run's output, so a human decision always wins over the model's: a renamed cluster
exports under its new name, a moved sentence under its new intent, an undone decision not at all.
Each label says whether a human or the model set it, so whoever trains on the export can weight or
filter by source. The fine-tuning sets are the two the Dial-In LLM paper fine-tunes (a coherence judge and an
intent namer), in the chat format OpenAI and TRL read, with the prompts the studio sends at run time.
"""

import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dialin_core.clustering.sampling import MAX_SAMPLE
from dialin_core.curation.review import UNASSIGNED, ReviewState, active_decisions, review_state
from dialin_core.data import pii
from dialin_core.data.store import DatasetInfo, Store
from dialin_core.judging.llm_judge import judge_messages
from dialin_core.naming.names import NAME_PATTERN, base_name, namer_messages, scheme_for

FORMATS = ("jsonl", "csv", "parquet")
# The judge is constrained to these tokens (judge.VERDICT_GRAMMAR); its training answers must be the same.
VERDICT_ANSWERS = {"good": "Good", "bad": "Bad"}
UTTERANCE_COLUMNS = (
    "utterance_id", "text", "frequency", "roles", "gold_label", "cluster_id", "intent", "verdict", "status", "labelled_by",
)


@dataclass(frozen=True)
class RunSnapshot:
    """What an export reads from the workspace, read once: every part of the export is a function of it."""

    run: dict[str, Any]  # store.run(), plus created_at and finished_at
    dataset: DatasetInfo
    utterances: pd.DataFrame  # the data set's unique utterances
    assigned: pd.DataFrame  # utterance_id, cluster_id as the engine left them
    state: ReviewState
    decisions: pd.DataFrame  # every decision recorded, undos included
    pii_masked: bool = True  # personal data in the utterances replaced by placeholders (dialin_core.data.pii)


def load_snapshot(store: Store, run_id: int, mask_pii: bool = True, samples_only: bool = False) -> RunSnapshot:
    """A finished run's export inputs; a clear error for a run still running, paused, failed or cancelled,
    whose clusters are not the run's final word.

    Personal data is masked by default, whether or not the data set was masked at ingest: an export leaves
    the analyst's machine, and every part of it (the utterances, the fine-tuning sets' prompts, the card)
    is built from this snapshot. `mask_pii=False` keeps the text as stored, and the data card says so.

    `samples_only` reads only the utterances the clusters' samples show: enough for the fine-tuning records,
    not for `curate`, and a second rather than a minute for a run of a million utterances."""
    run = store.run(run_id)
    if run.status != "finished":
        raise ValueError(f"run {run_id} is {run.status}, not finished: export it once it has finished")
    created_at, finished_at = store.run_times(run_id)
    state = review_state(store, run_id)
    if samples_only:
        shown = sorted({u for ids in sample_ids(state).values() for u in ids})
        utterances = store.utterances(run.dataset_id, utterance_ids=shown)
    else:
        utterances = store.utterances(run.dataset_id)
    snapshot = RunSnapshot(
        run={**run.as_dict(), "created_at": _iso(created_at), "finished_at": _iso(finished_at)},
        dataset=store.dataset(run.dataset_id),
        utterances=utterances,
        assigned=store.cluster_members(run_id),
        state=state,
        decisions=store.decisions(run_id),
        pii_masked=False,
    )
    return masked(snapshot) if mask_pii else snapshot


MASKED_AT_ONCE = 10_000


def masked(snapshot: RunSnapshot, on_progress: Callable[[int, int], None] | None = None) -> RunSnapshot:
    """The snapshot with personal data masked in its texts, `on_progress(done, total)` after each 10,000: a
    million utterances take a minute or more, which the studio shows while the workspace is already let go.
    The normalised text (only de-duplication reads it) is left out rather than masked too, which doubled the cost."""
    texts = snapshot.utterances["text"].tolist()
    done: list[str] = []
    for start in range(0, len(texts), MASKED_AT_ONCE):
        done += map(pii.mask_pii, texts[start:start + MASKED_AT_ONCE])
        if on_progress:
            on_progress(len(done), len(texts))
    text = pd.Series(done, index=snapshot.utterances.index, dtype=object)
    utterances = snapshot.utterances.drop(columns=["norm_text"]).assign(text=text)
    return replace(snapshot, utterances=utterances, pii_masked=True)


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()


# -- who set each label ------------------------------------------------------------------------------


def _decided_clusters(decisions: pd.DataFrame, actions: Sequence[str]) -> set[int]:
    """Clusters that `decisions` of `actions` apply to: `cluster_id` (rename, the keeper of a merge) or
    `cluster_ids` (set_verdict). Callers pass the active decisions, so an undone one counts for nothing."""
    clusters: set[int] = set()
    for action, after in zip(decisions["action"], decisions["after"]):
        if action in actions:
            parsed = json.loads(after)
            clusters.update(parsed["cluster_ids"] if action == "set_verdict" else [parsed["cluster_id"]])
    return clusters


def _created(state: ReviewState) -> set[int]:
    return set(state.clusters.loc[state.clusters["origin"] == "analyst", "cluster_id"])


def analyst_named(snapshot: RunSnapshot) -> set[int]:
    """Clusters whose name a human set: created, renamed, or kept by an accepted merge (which names it)."""
    return _created(snapshot.state) | _decided_clusters(active_decisions(snapshot.decisions), ("rename", "accept_merge"))


def analyst_judged(snapshot: RunSnapshot) -> set[int]:
    """Clusters whose verdict a human set: created (an analyst's cluster is good by making), or set_verdict."""
    return _created(snapshot.state) | _decided_clusters(active_decisions(snapshot.decisions), ("set_verdict",))


# -- the curated utterances ----------------------------------------------------------------------------


def curate(snapshot: RunSnapshot) -> pd.DataFrame:
    """One row per utterance of the run with its current intent; `labelled_by` is "analyst" when the
    utterance was moved (its cluster differs from the engine's) or its cluster was named by a human."""
    members = snapshot.state.members.merge(
        snapshot.assigned.rename(columns={"cluster_id": "engine_cluster_id"}), on="utterance_id"
    )
    frame = snapshot.utterances.merge(members, on="utterance_id").sort_values("utterance_id", ignore_index=True)
    clusters = snapshot.state.clusters.set_index("cluster_id")
    assigned = frame["cluster_id"] != UNASSIGNED
    for column, source in (("intent", "name"), ("verdict", "verdict"), ("status", "status")):
        values = frame["cluster_id"].map(clusters[source]).astype(object)
        frame[column] = values.where(assigned & values.notna(), None)
    human = (frame["cluster_id"] != frame["engine_cluster_id"]) | frame["cluster_id"].isin(analyst_named(snapshot))
    frame["labelled_by"] = np.where(human, "analyst", "model")
    frame["roles"] = frame["roles"].map(list)
    frame["gold_label"] = frame["gold_label"].astype(object).where(frame["gold_label"].notna(), None)
    return frame[list(UTTERANCE_COLUMNS)]


def curated_utterances(store: Store, run_id: int, mask_pii: bool = True) -> pd.DataFrame:
    return curate(load_snapshot(store, run_id, mask_pii))


# -- fine-tuning sets ------------------------------------------------------------------------------------


def cluster_samples(snapshot: RunSnapshot) -> dict[int, list[str]]:
    """The sentences each live cluster is shown with: the stored sample the judge saw, less the sentences
    moved out since, topped up with other members in utterance order to MAX_SAMPLE. A cluster an analyst
    made has no stored sample, so it is shown its members."""
    texts = snapshot.utterances.set_index("utterance_id")["text"]
    return {cluster_id: texts.loc[ids].tolist() for cluster_id, ids in sample_ids(snapshot.state).items()}


def sample_ids(state: ReviewState) -> dict[int, list[int]]:
    """The utterance ids of `cluster_samples`, by live cluster."""
    members = state.members.sort_values("utterance_id").groupby("cluster_id")["utterance_id"].agg(list)
    live = state.live_clusters()
    samples: dict[int, list[int]] = {}
    for cluster_id, stored in zip(live["cluster_id"], live["sample"]):
        current = members.get(cluster_id, [])
        still_in = set(current)
        kept = [int(u) for u in _ids(stored) if u in still_in]
        seen = set(kept)
        samples[int(cluster_id)] = (kept + [int(u) for u in current if u not in seen])[:MAX_SAMPLE]
    return samples


def _ids(stored: Any) -> list[int]:
    """A stored sample as a list; NULL (a baseline run, an analyst's cluster) is no sample."""
    return list(stored) if isinstance(stored, (list, tuple, np.ndarray)) else []


def _chat_record(messages: Sequence[tuple[str, str]], answer: str, run_id: int, cluster_id: int, source: str) -> dict[str, Any]:
    turns = [{"role": role, "content": content} for role, content in messages]
    return {
        "messages": [*turns, {"role": "assistant", "content": answer}],
        "metadata": {"run_id": run_id, "cluster_id": cluster_id, "source": source},
    }


def judge_records(snapshot: RunSnapshot) -> list[dict[str, Any]]:
    """Cluster sample -> Good/Bad, for every live cluster with a verdict (a baseline run's clusters have
    none until an analyst gives one). Zero-shot prompts: a fine-tuned judge learns the task from the set."""
    samples = cluster_samples(snapshot)
    judged = analyst_judged(snapshot)
    live = snapshot.state.live_clusters()
    return [
        _chat_record(judge_messages(samples[int(c)], few_shot=False), VERDICT_ANSWERS[v], snapshot.run["run_id"], int(c),
                     "analyst" if c in judged else "model")
        for c, v in zip(live["cluster_id"], live["verdict"]) if v in VERDICT_ANSWERS
    ]


def namer_records(snapshot: RunSnapshot) -> list[dict[str, Any]]:
    """Cluster sample -> name, for every live cluster named in the action-objective form the namer's
    grammar produces (keyword names of a baseline run are left out: a trained namer could never say
    them). The answer drops the `_N` tail that `unique_name` adds after the model has answered."""
    samples = cluster_samples(snapshot)
    named = analyst_named(snapshot)
    live = snapshot.state.live_clusters()
    scheme = scheme_for(snapshot.dataset.language)  # the prompt the namer sees for data in this language
    return [
        _chat_record(namer_messages(samples[int(c)], few_shot=False, scheme=scheme), base_name(n), snapshot.run["run_id"], int(c),
                     "analyst" if c in named else "model")
        for c, n in zip(live["cluster_id"], live["name"]) if isinstance(n, str) and NAME_PATTERN.fullmatch(n)
    ]


def judge_sft_records(store: Store, run_id: int) -> list[dict[str, Any]]:
    return judge_records(load_snapshot(store, run_id))


def namer_sft_records(store: Store, run_id: int) -> list[dict[str, Any]]:
    return namer_records(load_snapshot(store, run_id))


# -- the data card -------------------------------------------------------------------------------------------


def build_card(snapshot: RunSnapshot, utterances: pd.DataFrame, judge: list[dict], namer: list[dict]) -> dict[str, Any]:
    """What the export holds, where it came from, and how much of it a human decided."""
    decisions = snapshot.decisions
    active = active_decisions(decisions)
    n_undos = int((decisions["action"] == "undo").sum())
    labelled_by = utterances["labelled_by"].value_counts()
    n_live = len(snapshot.state.live_clusters())
    dataset = snapshot.dataset
    return {
        "title": f"{dataset.name}, run {snapshot.run['run_id']}",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {
            "dataset_id": dataset.dataset_id, "name": dataset.name, "source": dataset.source, "format": dataset.format,
            "dialogues": dataset.n_dialogues, "turns": dataset.n_turns, "utterances": dataset.n_utterances,
        },
        "run": {key: snapshot.run[key] for key in ("run_id", "method", "status", "created_at", "finished_at", "config", "summary")},
        "counts": {
            "utterances": len(utterances),
            "occurrences": int(utterances["frequency"].sum()),
            "clusters": n_live,
            "unassigned": int((utterances["cluster_id"] == UNASSIGNED).sum()),
            "labelled_by": {source: int(labelled_by.get(source, 0)) for source in ("analyst", "model")},
        },
        "fine_tuning": {
            "judge_records": len(judge),
            "judge_clusters_without_verdict": n_live - len(judge),
            "namer_records": len(namer),
            "namer_names_off_form": n_live - len(namer),
        },
        "decisions": {
            "recorded": len(decisions),
            "active": len(active),
            "undone": n_undos,  # each undo takes back exactly one decision; the undos are not counted as active
            "by_action": _counts(active, "action"),
            "by_analyst": _counts(active, "analyst"),
        },
        "personal_data": {
            "masked_in_export": snapshot.pii_masked,
            "rule": ("emails, card, IBAN, account, phone, social security and IP numbers, dates of birth, street addresses "
                     "and person names found by dialin_core.data.pii are replaced by [KIND] placeholders"
                     if snapshot.pii_masked else "kept as stored: masking was turned off for this export"),
        },
        "csv_formula_cells": {
            "cells": int(formula_cells(utterances).to_numpy().sum()),
            "rule": "in utterances.csv a cell starting with = + - @, a tab or a carriage return is prefixed with ' so that "
                    "a spreadsheet shows it as text; JSON lines and Parquet keep the text exact",
        },
    }


def _counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(frame[column].value_counts().items())} if len(frame) else {}


def data_card(store: Store, run_id: int, mask_pii: bool = True) -> dict[str, Any]:
    snapshot = load_snapshot(store, run_id, mask_pii)
    return build_card(snapshot, curate(snapshot), judge_records(snapshot), namer_records(snapshot))


def data_card_markdown(card: dict[str, Any]) -> str:
    """The card for people: the same facts as data_card.json, as a page a reviewer reads."""
    dataset, run, counts, tuning, decisions = (card[k] for k in ("dataset", "run", "counts", "fine_tuning", "decisions"))
    lines = [
        f"# Data card: {card['title']}",
        "",
        f"Exported {card['created_at']} from a {run['method']} run finished {run['finished_at']}.",
        "Analyst decisions win over the model's: names, verdicts and memberships are the reviewed ones.",
        "",
        "## Source",
        "",
        f"- Data set {dataset['dataset_id']}: {dataset['name']} ({dataset['format']}), from `{dataset['source']}`",
        f"- {dataset['dialogues']} dialogues, {dataset['turns']} turns, {dataset['utterances']} unique utterances",
        "",
        "## Contents",
        "",
        "| | count |",
        "|---|---|",
        f"| utterances | {counts['utterances']} |",
        f"| occurrences in the transcripts | {counts['occurrences']} |",
        f"| intents (clusters) | {counts['clusters']} |",
        f"| unassigned utterances | {counts['unassigned']} |",
        f"| labelled by an analyst | {counts['labelled_by']['analyst']} |",
        f"| labelled by the model | {counts['labelled_by']['model']} |",
        f"| judge fine-tuning records | {tuning['judge_records']} ({tuning['judge_clusters_without_verdict']} clusters without a verdict) |",
        f"| namer fine-tuning records | {tuning['namer_records']} ({tuning['namer_names_off_form']} names not in action-objective form) |",
        "",
        f"Personal data: {'masked' if card['personal_data']['masked_in_export'] else 'not masked'}; {card['personal_data']['rule']}.",
        f"Spreadsheet safety: {card['csv_formula_cells']['cells']} cells; {card['csv_formula_cells']['rule']}.",
        "",
        "## Decisions",
        "",
        f"{decisions['active']} active of {decisions['recorded']} recorded; {decisions['undone']} undone.",
        "",
        *_table("action", decisions["by_action"]),
        *_table("analyst", decisions["by_analyst"]),
        "## Run",
        "",
        f"Run {run['run_id']}, created {run['created_at']}.",
        "",
        "Summary:",
        "",
        "```json",
        json.dumps(run["summary"], indent=2, sort_keys=True),
        "```",
        "",
        "Configuration:",
        "",
        "```json",
        json.dumps(run["config"], indent=2, sort_keys=True),
        "```",
    ]
    return "\n".join(lines) + "\n"


def _table(heading: str, counts: dict[str, int]) -> list[str]:
    if not counts:
        return []
    return [f"| {heading} | decisions |", "|---|---|", *(f"| {k} | {v} |" for k, v in counts.items()), ""]


# -- files ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """Everything an export writes, made once from one snapshot: the studio shows it, then writes or zips it
    without reading (and masking) the run again."""

    run_id: int
    utterances: pd.DataFrame  # curated
    judge: list[dict[str, Any]]
    namer: list[dict[str, Any]]
    card: dict[str, Any]


def prepare_export(snapshot: RunSnapshot) -> Export:
    utterances, judge, namer = curate(snapshot), judge_records(snapshot), namer_records(snapshot)
    return Export(int(snapshot.run["run_id"]), utterances, judge, namer, build_card(snapshot, utterances, judge, namer))


def write_export(
    store: Store, run_id: int, out_dir: str | Path, formats: Sequence[str] = FORMATS, mask_pii: bool = True
) -> list[Path]:
    """Write the export of a finished run into `out_dir`; returns the files written.

    utterances.<format> for each format asked for, judge_sft.jsonl, namer_sft.jsonl, data_card.json and
    data_card.md. Everything is checked before the first file is written. Personal data is masked unless
    `mask_pii` is False (see `load_snapshot`).
    """
    _check_formats(formats)
    return write_prepared(prepare_export(load_snapshot(store, run_id, mask_pii)), out_dir, formats)


def _check_formats(formats: Sequence[str]) -> None:
    for format in formats or [None]:
        if format not in FORMATS:
            problem = f"unknown export format '{format}'" if format else "no export format given"
            raise ValueError(f"{problem}: choose from {', '.join(FORMATS)}")


def write_prepared(export: Export, out_dir: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write a prepared export into `out_dir` (see `write_export`); returns the files written."""
    formats = list(dict.fromkeys(formats))
    _check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_write_utterances(export.utterances, out / f"utterances.{f}", f) for f in formats]
    written += [write_jsonl(export.judge, out / "judge_sft.jsonl"), write_jsonl(export.namer, out / "namer_sft.jsonl")]
    (out / "data_card.json").write_text(json.dumps(export.card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "data_card.md").write_text(data_card_markdown(export.card), encoding="utf-8")
    return [*written, out / "data_card.json", out / "data_card.md"]


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd|...): OWASP's
# rule for CSV injection is to prefix such a cell with an apostrophe, which makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Which text cells a spreadsheet would read as a formula."""
    text = frame.select_dtypes(include=["object", "string"])
    return text.apply(lambda column: column.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)))


def csv_text(frame: pd.DataFrame) -> str:
    """`frame` as CSV that a spreadsheet opens as data: every text cell a spreadsheet would run as a formula
    is prefixed with an apostrophe. Every CSV the product writes goes through here; Parquet and JSON lines
    keep the text exact."""
    risky = formula_cells(frame)
    safe = frame.copy()
    for column in risky.columns[risky.any()]:
        safe[column] = safe[column].where(~risky[column], "'" + safe[column].astype(str))
    return safe.to_csv(index=False)


def csv_cell_text(cell: str) -> str:
    """The text a `csv_text` cell stood for: a neutralised formula loses its apostrophe again."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def utterances_csv(utterances: pd.DataFrame) -> str:
    """The curated table as CSV text, the same wherever it is written or downloaded: roles joined by ';'."""
    return csv_text(utterances.assign(roles=utterances["roles"].map(";".join)))


def _write_utterances(utterances: pd.DataFrame, path: Path, format: str) -> Path:
    """Roles stay a list in JSON lines and Parquet; a CSV cell holds them joined by ';'."""
    if format == "jsonl":
        utterances.to_json(path, orient="records", lines=True, force_ascii=False)
    elif format == "csv":
        path.write_text(utterances_csv(utterances), encoding="utf-8")
    else:
        utterances.to_parquet(path, index=False)
    return path


def export_zip(export: Export, formats: Sequence[str] = FORMATS) -> bytes:
    """Every file `write_prepared` writes, in one zip archive, for a browser download from the studio."""
    with tempfile.TemporaryDirectory() as folder:
        written = write_prepared(export, Path(folder) / f"run-{export.run_id}", formats)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in written:
                archive.write(path, arcname=f"run-{export.run_id}/{path.name}")
    return buffer.getvalue()


def write_jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    """One JSON object per line, UTF-8 as written (no \\u escapes)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
