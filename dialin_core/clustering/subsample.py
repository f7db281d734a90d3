"""Which utterances a large run clusters: a sample spread across the dialogues, the rest assigned afterwards.

The loop's clustering (Ward's tree over a UMAP layout, judged cluster by cluster) takes time that grows with the
square of the utterances it sees (and, over the raw vectors, memory too: n^2/2 distances, 1.6 GB at 20,000).
A contact centre's million utterances
cannot all go through it, and need not: intents recur, so a sample finds them and the rest join the nearest
intent's prototype (or stay unassigned when none is near, `dialin_core.methods.dialin_loop.assign_leftovers`).
The sample is spread across dialogues, one utterance of each dialogue before a second of any, so that no long
call weighs more than a short one and as many calls as possible are heard.
"""

import numpy as np


def spread_sample(groups: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted row indices of `size` rows (all when there are fewer), taken round-robin over `groups` (one
    label per row, e.g. its dialogue) in a seeded order: every group's first row before any group's second."""
    n = len(groups)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(n)
    _, group = np.unique(groups[shuffled], return_inverse=True)
    # rank of each row inside its group, in the shuffled order: a stable sort by group keeps that order
    by_group = np.argsort(group, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(group[by_group])) + 1]
    rank = np.empty(n, dtype=np.int64)
    rank[by_group] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    group_order = rng.permutation(group.max() + 1)  # which group goes first within a round
    chosen = np.lexsort((group_order[group], rank))[:size]
    return np.sort(shuffled[chosen])
