"""The method bake-off: k-means (true k, silhouette k), HDBSCAN, BERTopic, Dial-In and labelgen on BANKING77
test, on the SGD sample's customer turns and on SMP2019 (Chinese), in one run, every method on the same stored vectors.

Usage: .venv/bin/python bench/bakeoff.py [--sets b77 sgd smp] [--sample N] [--seed S] [--dialin-llm-calls N] [--skip-llm] [--skip-labelgen]
       [--llm-namer none|shipped|ADAPTER.gguf]

Each data set is embedded with the embedder the defaults give it (MiniLM for English, multilingual-e5-small
for Chinese: the language detected at ingest chooses), and every method of its rows reads those vectors.

--sample N draws a stratified subsample of N labelled unique utterances per data set (seeded; the same for
every method), because the packaged 0.5B model answers in 5-10 s a call on 2 cores and labelgen over all
3,080 BANKING77 test queries would take hours. Embeddings are computed once per data set, timed on their
own; each row's seconds are its own wall time on cached vectors. Labelgen runs twice: by default (the LLM
generates the labels, the nearest label prototype classifies) and with the LLM also choosing among the
nearest labels where the nearest leads by less than 0.05 (its generation calls are answered from the cache
of the first row). Goodness is the share of a row's clusters that the cohesion judge of all-mpnet-base-v2
calls good (dialin_core.evaluation.goodness): a judge no method used, the same for every row; it needs no labels and
rewards fine clusters, so read it with the cluster count. Nothing is tuned on the test labels: they are
only read to score.

Names are scored against the gold intent names (dialin_core.evaluation.naming): the share of utterances in
clusters whose name, embedded, lies nearest the gold name of the cluster's majority intent. BERTopic's names
are its default topic labels (the three leading c-TF-IDF words); the baselines' are keyword names. With
--llm-namer a row more runs the Dial-In defaults with another namer (none: the untuned model with the prompt's
examples; shipped; or an adapter file): the same partition as the defaults' row (its judge and seed are the
same), named by the other namer.
"""

import argparse
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from peers import PeerRow, bertopic_rows  # noqa: E402

from dialin_core.clustering.algorithms import OUTLIER_NAME  # noqa: E402
from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import Embedder, default_embedder, load_embedder  # noqa: E402
from dialin_core.evaluation.goodness import Goodness, run_goodness, score_goodness  # noqa: E402
from dialin_core.evaluation.naming import NameScore, name_score  # noqa: E402
from dialin_core.methods.baselines import RunResult, run_discovery  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402
from dialin_core.methods.labelgen import run_labelgen  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DATA_SETS = {
    "BANKING77 test": (SHARED / "banking77" / "test.csv", ColumnMapping(text="text", label="category"), ()),
    "SGD sample, customer turns": (SHARED / "sgd" / "train_sample.jsonl", None, ("customer",)),
    "SMP2019 (Chinese)": (SHARED / "smp2019" / "train.csv", ColumnMapping(text="text", label="label"), ()),
}
SET_NAMES = {"b77": "BANKING77 test", "sgd": "SGD sample, customer turns", "smp": "SMP2019 (Chinese)"}


def stratified_sample(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """About `n` rows drawn in proportion to each gold intent's share, at least one per intent."""
    if n is None or n >= len(frame):
        return frame
    share, rng = n / len(frame), np.random.default_rng(seed)
    picks = [rng.choice(rows, max(1, round(len(rows) * share)), replace=False) for rows in frame.groupby("gold_label").indices.values()]
    return frame.iloc[np.sort(np.concatenate(picks))]


def labelled_sample(store: Store, path: Path, mapping: ColumnMapping | None, roles: tuple[str, ...], n: int | None, seed: int, folder: Path) -> Path:
    """The data set's labelled unique utterances (of `roles`), subsampled, as a CSV every method reads."""
    dataset_id = ingest_file(store, path, mapping)
    utterances = store.utterances(dataset_id, roles=roles or None)
    labelled = utterances[utterances["gold_label"].notna() & (utterances["gold_label"] != "")]
    sample = stratified_sample(labelled, n, seed)
    out = folder / f"{path.stem}-sample.csv"
    sample[["text", "gold_label"]].to_csv(out, index=False)
    return out


def row(label: str, summary: dict, goodness: Goodness | None, names: NameScore | None = None) -> str:
    m = summary["metrics"]
    calls = summary.get("llm_calls", 0)
    good = f"{goodness.share:.2f}" if goodness else "-"
    named = f"{names.share:.2f}" if names else "-"
    return (f"| {label} | {m['acc']:.3f} | {m['nmi']:.3f} | {m['ari']:.3f} | {m['f1']:.3f} | {summary['n_clusters']} | {good} | {named} | "
            f"{calls} | {calls / summary['n_utterances']:.3f} | {summary.get('llm_tokens', 0)} | {summary['seconds']:.1f} |")


def chinese_names(result: RunResult) -> str:
    """A comment with the share of cluster names written in Han characters, for a Chinese data set."""
    names = [n for n in result.clusters["name"].dropna() if n != OUTLIER_NAME]
    han = sum(bool(re.search("[\u4e00-\u9fff]", n)) for n in names)
    return f" <!-- {han} of {len(names)} names Chinese -->" if han else ""


def names_of(result: RunResult, embedder: Embedder, store: Store) -> NameScore:
    """The run's cluster names against the gold intent names, both read by the data set's embedder."""
    assignments = result.assignments
    return name_score(assignments["cluster_id"].tolist(), dict(zip(result.clusters["cluster_id"], result.clusters["name"])),
                      assignments["gold_label"].tolist(), lambda texts: embed_texts(texts, embedder, store))


def peer_names(peer: PeerRow, gold: list[str], embedder: Embedder, store: Store) -> NameScore | None:
    if peer.names is None:
        return None
    return name_score(peer.labels.tolist(), peer.names, gold, lambda texts: embed_texts(texts, embedder, store))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, help="labelled utterances per data set (stratified; default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dialin-llm-calls", type=int, help="the Dial-In run's LLM budget (judging and naming; default: the back end's)")
    parser.add_argument("--skip-llm", action="store_true", help="only the methods that need no LLM")
    parser.add_argument("--skip-labelgen", action="store_true", help="no labelgen rows (about 20 minutes a data set)")
    parser.add_argument("--llm-namer", help="a row more: the defaults named by this namer (none, shipped, or an adapter .gguf)")
    parser.add_argument("--sets", nargs="+", choices=SET_NAMES, default=list(SET_NAMES), help="data sets (default: all)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        for title, (path, mapping, roles) in ((SET_NAMES[s], DATA_SETS[SET_NAMES[s]]) for s in args.sets):
            sample_path = labelled_sample(store, path, mapping, roles, args.sample, args.seed, Path(folder))
            dataset_id = ingest_file(store, sample_path, ColumnMapping(text="text", label="gold_label"))
            utterances = store.utterances(dataset_id)
            n_gold = utterances["gold_label"].nunique()
            language = store.dataset_language(dataset_id)
            embedder_name = default_embedder(language)  # what a user gets with the defaults: it follows the language
            embedder = load_embedder(embedder_name)
            started = time.perf_counter()
            embed_texts(utterances["text"].tolist(), embedder, store)
            print(f"\n{title}: {len(utterances)} unique labelled utterances (seed {args.seed}), {n_gold} gold intents, "
                  f"language {language}; {embedder_name}: {time.perf_counter() - started:.1f} s to embed\n")
            print("| method | ACC | NMI | ARI | F1 | #clusters | goodness | names | LLM calls | calls/utterance | LLM tokens | seconds |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            common = {"with_map": False, "seed": args.seed, "embedder": embedder_name}
            for label, config in {
                f"kmeans, true k={n_gold}": RunConfig(method="kmeans", k=n_gold, **common),
                "kmeans, silhouette k (5..150)": RunConfig(method="kmeans", **common),
                "hdbscan (UMAP 10-d, min size 10)": RunConfig(method="hdbscan", **common),
            }.items():
                result = run_discovery(store, dataset_id, config, embedder)
                print(row(label, result.summary, run_goodness(store, result.run_id), names_of(result, embedder, store)), flush=True)
            texts, gold = utterances["text"].tolist(), utterances["gold_label"].tolist()
            for peer in bertopic_rows(texts, embed_texts(texts, embedder, store), args.seed):
                print(row(peer.label, peer.summary(gold), score_goodness(texts, peer.labels, embedder_name, store, language=language),
                          peer_names(peer, gold, embedder, store)), flush=True)
            no_llm = RunConfig(llm="none", judge="cohesion", **common)
            result = run_dialin(store, dataset_id, no_llm, tools=build_tools(store, no_llm, embedder))
            print(row("dialin, defaults but no LLM (cohesion judge, keyword names)", result.summary, run_goodness(store, result.run_id),
                      names_of(result, embedder, store)), flush=True)
            if args.skip_llm:
                continue
            dialin = RunConfig(max_llm_calls=args.dialin_llm_calls, **common)
            result = run_dialin(store, dataset_id, dialin, tools=build_tools(store, dialin, embedder))
            adapter, used = result.summary.get("llm_judge_adapter"), result.summary.get("judge_used")
            judged = (f"{used} judge with {adapter}" if adapter else f"{used} judge: no tuned LLM judge reads {language}" if used == "cohesion"
                      else f"{used} judge, the LLM untuned")
            print(row(f"dialin, defaults ({judged}, LLM names, {dialin.llm_call_budget} calls budget)", result.summary,
                      run_goodness(store, result.run_id), names_of(result, embedder, store)) + chinese_names(result), flush=True)
            if args.llm_namer:
                other = replace(dialin, llm_namer=args.llm_namer)
                result = run_dialin(store, dataset_id, other, tools=build_tools(store, other, embedder))
                print(row(f"dialin, defaults named by the namer {Path(args.llm_namer).stem}", result.summary,
                          run_goodness(store, result.run_id), names_of(result, embedder, store)) + chinese_names(result), flush=True)
            if args.skip_labelgen:
                continue
            for label, config in {
                "labelgen (LLM labels, nearest label prototype classifies)": RunConfig(method="labelgen", **common),
                "labelgen, LLM chooses among the top-4 where unsure (sure margin 0.05)": RunConfig(method="labelgen", sure_margin=0.05, **common),
            }.items():
                result = run_labelgen(store, dataset_id, config, embedder=embedder)
                summary = result.summary
                print(row(label, summary, run_goodness(store, result.run_id), names_of(result, embedder, store)) + f" <!-- {summary['labels_proposed']} labels proposed, "
                      f"{summary['labels_after_merge']} after merge, {summary['labels_kept']} kept, {summary['asked_llm']} utterances asked -->", flush=True)


if __name__ == "__main__":
    main()
