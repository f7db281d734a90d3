"""What a review teaches the embedder: sentence pairs the analyst said are, or are not, one intent.

Only the analyst's own word teaches. A cluster the judge called good and nobody looked at is the loop's
guess, and fine-tuning on the loop's guesses teaches it its own mistakes (measured in BENCHMARKS.md:
self-training on the loop's clusters lowers ACC on all of BANKING77 train). So:

- **Vouched clusters** give positive pairs (two members) and negative pairs (a member and a member of one
  of the nearest other vouched clusters: the analyst kept those apart). A cluster is vouched when the
  analyst approved it, made it, set its verdict to good, or accepted the merge that formed it; its
  current members count, so moves and merges are in, and a rename changes nothing here.
- **Moves** give a positive pair for each sentence moved into a cluster not marked bad (with members of
  it), and a negative pair for each sentence moved out of one (with members it left).
- **Rejected merge proposals** give negative pairs across the two clusters: the analyst said they differ.
- **Clusters marked bad** give nothing: "not one intent" says some pairs differ, not which.

Pairs are labelled 1 (same intent) or 0, for a loss that reads those labels (dialin_core.embedding.adapted:
CoSENT by default, which ranks every same-intent pair of a batch above every other pair), so no two sentences
count as different intents only because they shared a batch.
"""

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dialin_core.curation.review import UNASSIGNED, ReviewState, active_decisions

MAX_PAIRS = 6000  # ~4 minutes of MiniLM training on 2 cores; more adds time faster than it adds gain
NEAREST_OTHERS = 3  # negatives come from the vouched clusters nearest to a member's own
MOVE_PARTNERS = 3  # pairs per moved sentence with members of the cluster it joined or left


@dataclass(frozen=True)
class TeachingPairs:
    """Sentence pairs with 1 (one intent) or 0, and what they came from, for the adapted model's record."""

    first: list[str]
    second: list[str]
    same: list[int]
    sources: dict[str, int] = field(default_factory=dict)  # pairs per kind of decision
    vouched_clusters: int = 0
    taught_sentences: int = 0

    def __len__(self) -> int:
        return len(self.same)

    def summary(self) -> dict[str, int]:
        return {"pairs": len(self), "positive": int(sum(self.same)), "negative": len(self) - int(sum(self.same)),
                "vouched_clusters": self.vouched_clusters, "taught_sentences": self.taught_sentences, **self.sources}


def vouched_clusters(state: ReviewState, decisions: pd.DataFrame) -> list[int]:
    """The live clusters the analyst stood behind: approved, made, set good, or formed by an accepted merge."""
    live = state.live_clusters().set_index("cluster_id")
    said_good: set[int] = set()
    for decision in active_decisions(decisions).itertuples():
        after = json.loads(decision.after)
        if decision.action == "set_verdict" and after["verdict"] == "good":
            said_good.update(int(c) for c in after["cluster_ids"])
        elif decision.action == "accept_merge":
            said_good.add(int(after["cluster_id"]))
    vouched = (live["status"] == "approved") | (live["origin"] == "analyst") | (live.index.isin(said_good) & (live["verdict"] == "good"))
    return sorted(int(c) for c in live.index[vouched])


def teaching_pairs(state: ReviewState, decisions: pd.DataFrame, texts: dict[int, str], vectors: dict[int, np.ndarray],
                   seed: int = 0, max_pairs: int = MAX_PAIRS) -> TeachingPairs:
    """The pairs a review teaches; `vectors` (the run's own embedder) find each vouched cluster's nearest others."""
    rng = np.random.default_rng(seed)
    members = state.members[state.members["cluster_id"] != UNASSIGNED].groupby("cluster_id")["utterance_id"].apply(
        lambda ids: [int(u) for u in ids]).to_dict()
    bad = set(state.live_clusters().loc[lambda c: c["verdict"] == "bad", "cluster_id"].astype(int))
    vouched = [c for c in vouched_clusters(state, decisions) if len(members.get(c, [])) >= 2]
    pairs: dict[str, list[tuple[int, int, int]]] = {"within_vouched": [], "across_vouched": [], "moves": [], "rejected_merges": []}

    def partners(pool: list[int], n: int, besides: int | None = None) -> list[int]:
        pool = [u for u in pool if u != besides]
        return [int(u) for u in rng.choice(pool, min(n, len(pool)), replace=False)] if pool else []

    centres = np.stack([np.mean([vectors[u] for u in members[c]], axis=0) for c in vouched]) if vouched else np.zeros((0, 1))
    for i, cluster in enumerate(vouched):
        others = [vouched[j] for j in np.argsort(-(centres @ centres[i])) if j != i][:NEAREST_OTHERS]
        for u in members[cluster]:
            pairs["within_vouched"] += [(u, p, 1) for p in partners(members[cluster], 1, besides=u)]
            if others:
                other = others[int(rng.integers(len(others)))]
                pairs["across_vouched"] += [(u, p, 0) for p in partners(members[other], 1)]
    current = state.members.set_index("utterance_id")["cluster_id"]
    for decision in active_decisions(decisions).itertuples():
        after, before = json.loads(decision.after), json.loads(decision.before or "{}")
        if decision.action in ("move", "new_cluster"):
            for u, left in before.get("clusters", {}).items():
                u, now = int(u), int(current.get(int(u), UNASSIGNED))
                if now == after["cluster_id"] and now != UNASSIGNED and now not in bad:
                    pairs["moves"] += [(u, p, 1) for p in partners(members.get(now, []), MOVE_PARTNERS, besides=u)]
                if left != now and left != UNASSIGNED and left not in bad:
                    pairs["moves"] += [(u, p, 0) for p in partners(members.get(left, []), MOVE_PARTNERS)]
        elif decision.action == "reject_merge":
            proposal = state.proposals.set_index("proposal_id").loc[after["proposal_id"]]
            sides = [members.get(int(c), []) for c in proposal["cluster_ids"] if int(c) not in bad]
            for a, b in ((a, b) for i, a in enumerate(sides) for b in sides[i + 1:]):
                pairs["rejected_merges"] += [(u, p, 0) for u in a for p in partners(b, 1)]
    found = [p for kind in pairs.values() for p in kind]
    if len(found) > max_pairs:
        found = [found[i] for i in np.sort(rng.choice(len(found), max_pairs, replace=False))]
    order = rng.permutation(len(found))
    found = [found[i] for i in order]
    return TeachingPairs(
        first=[texts[a] for a, _, _ in found], second=[texts[b] for _, b, _ in found], same=[s for _, _, s in found],
        sources={kind: len(kept) for kind, kept in pairs.items()}, vouched_clusters=len(vouched),
        taught_sentences=len({u for a, b, _ in found for u in (a, b)}),
    )
