"""The Dial-In loop against k-means (true k, silhouette k) on BANKING77 test, in one run.

Usage: .venv/bin/python bench/dialin.py [--data FILE] [--embedder NAME] [--max-llm-calls N] [--skip-llm]

Rows: kmeans with the true k; kmeans with silhouette k; BERTopic (defaults, and + reduce_outliers) on the
same vectors; dialin with the cohesion judge alone (no LLM, keyword names): the default (Ward cuts of a UMAP
reduction, k by silhouette, remainder kept), the same with k-means cuts, and the loop as it was before
(Ward on the raw vectors, k by the good/bad ratio); dialin with the cascade judge and LLM names on the local
model (the default configuration); each dialin row with and without applying its merge proposals. Embeddings are computed once,
timed on their own; each row's seconds are its own wall time on cached vectors. Nothing here is tuned
on the test labels: they are only read to score. Goodness is scored by a judge no row used: the cohesion
judge of another embedder (dialin_core.evaluation.goodness).
"""

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from peers import bertopic_rows  # noqa: E402

from dialin_core.config import RunConfig  # noqa: E402
from dialin_core.data.datasets import ingest_file  # noqa: E402
from dialin_core.data.ingest import ColumnMapping  # noqa: E402
from dialin_core.data.store import Store  # noqa: E402
from dialin_core.embedding.embed import embed_texts  # noqa: E402
from dialin_core.embedding.models import DEFAULT_EMBEDDER, load_embedder  # noqa: E402
from dialin_core.evaluation.goodness import Goodness, run_goodness, score_goodness  # noqa: E402
from dialin_core.methods.baselines import run_discovery  # noqa: E402
from dialin_core.methods.dialin import build_tools, run_dialin  # noqa: E402


def row(label: str, summary: dict, goodness: Goodness | None) -> str:
    m = summary["metrics"]
    goodness = f"{goodness.share:.2f}" if goodness else "-"
    return (f"| {label} | {m['acc']:.3f} | {m['nmi']:.3f} | {m['ari']:.3f} | {m['f1']:.3f} | {summary['n_clusters']} | "
            f"{summary['n_outliers']} | {summary.get('llm_calls', 0)} | {goodness} | {summary['seconds']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "banking77" / "test.csv")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--max-llm-calls", type=int, help="default: the back end's (80 for local)")
    parser.add_argument("--skip-llm", action="store_true", help="only the rows that need no LLM")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="a packaged embedder with a shipped cohesion judge")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        dataset_id = ingest_file(store, args.data, ColumnMapping(text="text", label=args.label_column))
        utterances = store.utterances(dataset_id)
        n_gold = utterances["gold_label"].nunique()
        started = time.perf_counter()
        embedder = load_embedder(args.embedder)
        embed_texts(utterances["text"].tolist(), embedder, store)
        print(f"data: {args.data.name}, {len(utterances)} unique utterances, {n_gold} gold intents; "
              f"{args.embedder}: {time.perf_counter() - started:.1f} s to embed\n")
        print("| method | ACC | NMI | ARI | F1 | #clusters | outliers | LLM calls | goodness | seconds |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for label, config in {
            f"kmeans, true k={n_gold}": RunConfig(method="kmeans", k=n_gold, embedder=args.embedder, with_map=False),
            "kmeans, silhouette k (5..150)": RunConfig(method="kmeans", embedder=args.embedder, with_map=False),
        }.items():
            result = run_discovery(store, dataset_id, config, embedder)
            print(row(label, result.summary, run_goodness(store, result.run_id)), flush=True)
        texts, gold = utterances["text"].tolist(), utterances["gold_label"].tolist()
        for peer in bertopic_rows(texts, embed_texts(texts, embedder, store)):
            print(row(peer.label, peer.summary(gold), score_goodness(texts, peer.labels, args.embedder, store)), flush=True)
        no_llm = RunConfig(llm="none", judge="cohesion", embedder=args.embedder, with_map=False)
        dialin_configs = {
            "dialin, Ward on UMAP, silhouette k, cohesion judge, no LLM": no_llm,
            "dialin, k-means on UMAP, silhouette k, cohesion judge, no LLM": replace(no_llm, loop_clustering="kmeans"),
            "dialin as before: Ward on raw vectors, good/bad ratio, cohesion judge, no LLM": replace(
                no_llm, loop_space="embedding", loop_k_choice="ratio", keep_remainder=False),
        }
        if not args.skip_llm:
            dialin_configs["dialin, Ward, cascade + LLM names (local)"] = RunConfig(
                embedder=args.embedder, with_map=False, max_llm_calls=args.max_llm_calls
            )
        for label, config in dialin_configs.items():
            for merged in (False, True):
                config = replace(config, roles=(), auto_merge=merged)
                result = run_dialin(store, dataset_id, config, tools=build_tools(store, config, embedder))
                summary = result.summary
                suffix = f", merges applied ({summary['merge_proposals']})" if merged else f", {summary['merge_proposals']} merges proposed"
                print(row(label + suffix, summary, run_goodness(store, result.run_id)), flush=True)
                if not merged:
                    chosen = [f"{i['chosen_k']}" for i in summary["iterations"] if "chosen_k" in i]
                    print(f"|   iterations: chosen k {', '.join(chosen)}; stopped: {'; '.join(summary['stopped'])} | | | | | | | | | |")


if __name__ == "__main__":
    main()
