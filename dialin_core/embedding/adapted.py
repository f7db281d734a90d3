"""Embedders adapted to a workspace: a copy of a run's embedder fine-tuned on what its review taught.

Each adapted model is a sentence-transformers folder beside the workspace file (`embedders/adapted-N`),
so it travels with the workspace the way re-fitted judges do, with `adaptation.json` saying what it was
trained on: the base model, the run and the decisions it read, the pairs, the settings and the time.
Names are never reused (N counts every folder there ever was and every name in the embedding cache), so
the cache, keyed by embedder name, never serves one model's vectors for another.

Training runs sentence-transformers' own trainer on CPU. A model is written to `adapted-N.partial` and
renamed when complete, so a server killed mid-training leaves no half model that looks whole.
"""

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dialin_core.curation.review import active_decisions, review_state
from dialin_core.data.store import Store
from dialin_core.embedding.embed import embed_texts
from dialin_core.embedding.models import (
    MULTILINGUAL_EMBEDDER,
    PACKAGED_MODELS,
    Embedder,
    SentenceTransformerEmbedder,
    language_warning,
    load_embedder,
    resolve_model_path,
)
from dialin_core.embedding.teaching import TeachingPairs, teaching_pairs
from dialin_core.judging.cohesion import default_model_path

PREFIX = "adapted-"
MANIFEST = "adaptation.json"
PARTIAL = ".partial"
MIN_PAIRS = 50  # fewer pairs than this move the model by noise, not by the analyst
ProgressListener = Callable[[int, int], None]  # (steps done, steps in all)
# cosent (the default): only the order, every same-intent pair above every other pair in a batch (Su, "CoSENT:
# A more efficient sentence vector scheme", 2022), which leaves the scale of the cosines, and so the geometry
# the loop reads, closer to the base model's; contrastive: same-intent pairs pulled to cosine 1, the others
# pushed past the margin (Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an Invariant Mapping").
# mnrl: each same-intent pair with a sentence the analyst kept apart from its first, and the rest of the batch,
# as negatives (Henderson et al., "Efficient Natural Language Response Suggestion for Smart Reply", 2017).
LOSSES = ("contrastive", "cosent", "mnrl")


def triplets(pairs: TeachingPairs) -> list[tuple[str, str, str]]:
    """(anchor, positive, negative) from the pairs: each same-intent pair with a not-same partner of its anchor."""
    apart: dict[str, list[str]] = {}
    for first, second, same in zip(pairs.first, pairs.second, pairs.same):
        if not same:
            apart.setdefault(first, []).append(second)
    return [(a, b, apart[a][i % len(apart[a])]) for i, (a, b, same) in enumerate(zip(pairs.first, pairs.second, pairs.same))
            if same and a in apart]


@dataclass(frozen=True)
class TrainingSettings:
    """How the model is fine-tuned; chosen on BANKING77 train with bench/analyst_loop.py."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    loss: str = "cosent"  # one of LOSSES; chosen on BANKING77 train (BENCHMARKS.md)
    margin: float = 0.5  # of the contrastive loss, in cosine distance
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss '{self.loss}': choose one of {', '.join(LOSSES)}")
        if self.epochs < 1 or self.batch_size < 2 or self.learning_rate <= 0:
            raise ValueError("training needs at least 1 epoch, batches of 2 or more and a positive learning rate")


@dataclass(frozen=True)
class AdaptedEmbedder:
    """One adapted model as its record says: where it is and what it learnt from."""

    name: str
    base: str  # the packaged model at the root of the chain (its cohesion judge judges this model's clusters)
    parent: str  # the embedder it was fine-tuned from: the base, or another adapted model
    run_id: int
    dataset_id: int
    decisions: int  # active analyst decisions of the run when it was trained
    last_decision_id: int
    pairs: dict[str, int]
    settings: dict[str, Any]
    seconds: float
    created_at: str
    libraries: dict[str, str]
    path: Path

    def describe(self) -> str:
        return (f"{self.name}: {self.parent} taught by run {self.run_id}'s review ({self.decisions} decisions, "
                f"{self.pairs['pairs']} pairs), {self.created_at[:16].replace('T', ' ')}")


def embedders_folder(workspace: Path | str) -> Path:
    """Beside the workspace file, as the re-fitted judges are."""
    return Path(workspace).parent / "embedders"


def is_adapted(name: str) -> bool:
    return re.fullmatch(rf"{PREFIX}\d+", name) is not None


def adapted_embedders(workspace: Path | str) -> list[AdaptedEmbedder]:
    """The complete adapted models of the workspace, newest first."""
    folder = embedders_folder(workspace)
    found = [_read(path) for path in folder.glob(f"{PREFIX}*") if is_adapted(path.name) and (path / MANIFEST).is_file()] if folder.is_dir() else []
    return sorted(found, key=lambda a: int(a.name.removeprefix(PREFIX)), reverse=True)


def adapted_embedder(workspace: Path | str, name: str) -> AdaptedEmbedder:
    path = embedders_folder(workspace) / name
    if not (path / MANIFEST).is_file():
        raise ValueError(f"no adapted embedder '{name}' beside workspace {workspace} (looked in {path.parent}): "
                         "teach one from a reviewed run first, or choose a packaged embedder")
    return _read(path)


def _read(path: Path) -> AdaptedEmbedder:
    record = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    return AdaptedEmbedder(**record, path=path)


def embedder_for(store: Store, name: str) -> Embedder:
    """The embedder a run names: an adapted model of the store's workspace, or any name `load_embedder` knows."""
    if not is_adapted(name):
        return load_embedder(name)
    return SentenceTransformerEmbedder(str(check_embedder(store, name).path), name=name)


def check_embedder(store: Store, name: str) -> AdaptedEmbedder | None:
    """Refuse, before a run is stored, an adapted name the workspace does not hold (loading it costs seconds);
    its record when it is held, None for a name that is not an adapted one."""
    if not is_adapted(name):
        return None
    if store.path == ":memory:":
        raise ValueError(f"the adapted embedder '{name}' lives beside a workspace file; this store has none")
    return adapted_embedder(store.path, name)


def judged_as(store: Store, name: str, cohesion_model: str | None = None) -> str:
    """The embedder whose cohesion judge reads this one's clusters: an adapted model's packaged base; for a
    model directory with no judge of its own (none shipped, none given), the multilingual model, which reads
    every language and whose judge is shipped. Either way the loop clusters the run's own vectors."""
    adapted = check_embedder(store, name)
    if adapted is not None:
        return adapted.base
    if cohesion_model is None and not default_model_path(name).is_file():
        return MULTILINGUAL_EMBEDDER
    return name


def language_warning_for(store: Store, name: str, language: str | None) -> str | None:
    """The warning for embedding text in `language` with `name` (an adapted model reads what its base reads)."""
    return language_warning(judged_as(store, name), language, shown_as=name)


def next_name(store: Store) -> str:
    """An adapted name no folder and no cached vector ever had."""
    folder = embedders_folder(store.path)
    seen = [p.name.removesuffix(PARTIAL) for p in folder.glob(f"{PREFIX}*")] if folder.is_dir() else []
    seen += store.embedding_models()
    numbers = [int(n.removeprefix(PREFIX)) for n in seen if is_adapted(n)]
    return f"{PREFIX}{max(numbers, default=0) + 1}"


def pairs_of_run(store: Store, run_id: int, seed: int = 0) -> TeachingPairs:
    """What the run's review teaches, with the run's own vectors choosing the nearest other clusters."""
    run = store.run(run_id)
    state = review_state(store, run_id)
    texts = store.utterance_texts(run_id)
    ids = [int(u) for u in state.members["utterance_id"]]
    vectors = embed_texts([texts[u] for u in ids], embedder_for(store, run.config.embedder), store)
    return teaching_pairs(state, store.decisions(run_id), texts, dict(zip(ids, vectors)), seed=seed)


def train(pairs: TeachingPairs, parent: Path, out: Path, settings: TrainingSettings = TrainingSettings(),
          on_progress: ProgressListener | None = None) -> float:
    """Fine-tune the sentence-transformers model at `parent` on the pairs and save it at `out`; seconds taken."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss, MultipleNegativesRankingLoss, OnlineContrastiveLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003 (the trainer's signature)
            if on_progress is not None:
                on_progress(state.global_step, state.max_steps)

    started = time.perf_counter()
    model = SentenceTransformer(str(parent), device="cpu")
    if settings.loss == "mnrl":
        data = Dataset.from_dict(dict(zip(("anchor", "positive", "negative"), zip(*triplets(pairs)))))
        loss = MultipleNegativesRankingLoss(model)
    else:
        data = Dataset.from_dict({"sentence1": pairs.first, "sentence2": pairs.second, "label": pairs.same})
        loss = OnlineContrastiveLoss(model, margin=settings.margin) if settings.loss == "contrastive" else CoSENTLoss(model)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=settings.epochs, per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate, warmup_steps=0.1, save_strategy="no", report_to=[], seed=settings.seed,
        use_cpu=True, disable_tqdm=True, logging_strategy="no",
        batch_sampler=BatchSamplers.NO_DUPLICATES if settings.loss == "mnrl" else BatchSamplers.BATCH_SAMPLER,
    )
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss, callbacks=[Progress()]).train()
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    model.save(str(out))
    return time.perf_counter() - started


def teachable_pairs(store: Store, run_id: int, settings: TrainingSettings = TrainingSettings()) -> TeachingPairs:
    """The pairs a finished run's review teaches, refused with the reason when it cannot teach (yet)."""
    if store.path == ":memory:":
        raise ValueError("an adapted embedder is kept beside a workspace file; this store has none")
    run = store.run(run_id)
    if run.status != "finished":
        raise ValueError(f"run {run_id} is {run.status}: teach the embedder from a finished, reviewed run")
    parent = run.config.embedder
    if not is_adapted(parent) and not (parent in PACKAGED_MODELS or Path(parent).is_dir()):
        raise ValueError(f"the embedder '{parent}' of run {run_id} is not a sentence-transformers model, so it cannot be fine-tuned here")
    pairs = pairs_of_run(store, run_id, settings.seed)
    if len(pairs) < MIN_PAIRS:
        raise ValueError(
            f"run {run_id}'s review teaches {len(pairs)} sentence pairs, fewer than {MIN_PAIRS}: approve, make or set good "
            "a few more clusters (or move sentences, or reject merges) on the Review page first")
    return pairs


def adapt_embedder(store: Store, run_id: int, settings: TrainingSettings = TrainingSettings(), on_progress: ProgressListener | None = None,
                   name: str | None = None, pairs: TeachingPairs | None = None) -> AdaptedEmbedder:
    """Fine-tune the run's embedder on its review (`pairs`, when the caller has checked them already) and keep
    the result beside the workspace under `name` (default: the next free one)."""
    pairs = pairs or teachable_pairs(store, run_id, settings)
    run = store.run(run_id)
    parent = run.config.embedder
    name = name or next_name(store)
    folder = embedders_folder(store.path)
    partial = folder / f"{name}{PARTIAL}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    parent_path = adapted_embedder(store.path, parent).path if is_adapted(parent) else resolve_model_path(parent)
    decisions = store.decisions(run_id)  # read before training: the analyst may go on deciding while it trains
    seconds = train(pairs, parent_path, partial, settings, on_progress)
    record = {
        "name": name, "base": judged_as(store, parent), "parent": parent, "run_id": run_id, "dataset_id": run.dataset_id,
        "decisions": len(active_decisions(decisions)),
        "last_decision_id": int(decisions["decision_id"].max()) if not decisions.empty else 0,
        "pairs": pairs.summary(), "settings": asdict(settings), "seconds": round(seconds, 1),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "libraries": {p: version(p) for p in ("sentence-transformers", "transformers", "torch")},
    }
    (partial / MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    partial.rename(folder / name)
    return _read(folder / name)
