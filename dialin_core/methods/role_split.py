"""Speaker roles read from a finished run's intent names, for data whose ingest knew no speakers.

The Dial-In LLM paper, section 3.4, has two steps: cluster once, read each sentence's role from the action verb of the
name its cluster ended with (`inquire-…` is the customer's, `provide-…` the agent's), then cluster each
role's sentences again. The names are those of the review state, so an analyst's renames, moves and
merges decide. A sentence left unassigned (an outlier), or in a cluster whose name carries no role verb
(`chitchat-…`, a keyword name), is `other`; the new run's partition puts it on the customer side, as it
does for ingest's `other`, so the loop clusters it again rather than leaving it out.
"""

from collections import Counter
from collections.abc import Mapping

from dialin_core.curation.review import UNASSIGNED, ReviewState
from dialin_core.naming.names import name_role

ROLE_NAMES = ("customer", "agent", "other")


def _cluster_names(state: ReviewState) -> dict[int, str | None]:
    """Each cluster's current name; None for the unassigned pool or an unnamed cluster."""
    return {int(c): n if isinstance(n, str) and int(c) != UNASSIGNED else None
            for c, n in zip(state.clusters["cluster_id"], state.clusters["name"])}


def _role_of(name: str | None) -> str:
    """customer, agent or other, from the verb of a cluster's name (no name: other)."""
    return name_role(name) if name else "other"


def names_by_utterance(state: ReviewState) -> dict[int, str | None]:
    """Each utterance's current cluster name; None for the unassigned pool or an unnamed cluster."""
    name_of = _cluster_names(state)
    return {int(u): name_of.get(int(c)) for u, c in zip(state.members["utterance_id"], state.members["cluster_id"])}


def derived_roles(names: Mapping[int, str | None]) -> dict[int, str]:
    """customer, agent or other per utterance id, from the verb of its cluster's name (no name: other)."""
    return {utterance_id: _role_of(name) for utterance_id, name in names.items()}


def role_counts(roles: Mapping[int, str]) -> dict[str, int]:
    """How many utterances each role got, every role listed (a zero says why a split is refused)."""
    counted = Counter(roles.values())
    return {role: counted[role] for role in ROLE_NAMES}


def cluster_role_counts(state: ReviewState) -> dict[str, int]:
    """`role_counts(derived_roles(names_by_utterance(state)))` from the clusters' sizes: what the studio shows,
    without a dictionary of a million utterances on every redraw."""
    name_of = _cluster_names(state)
    counted = Counter({role: 0 for role in ROLE_NAMES})
    for cluster_id, size in zip(state.clusters["cluster_id"], state.clusters["size"]):
        counted[_role_of(name_of[int(cluster_id)])] += int(size)
    return {role: counted[role] for role in ROLE_NAMES}


def splittable(counts: Mapping[str, int]) -> bool:
    """Whether names give both sides sentences; otherwise a split re-clusters the same single group."""
    return counts["agent"] > 0 and counts["customer"] + counts["other"] > 0


def check_splittable(counts: Mapping[str, int], source_run_id: int) -> None:
    """Refuse a split that would change nothing, saying how to make one possible."""
    if not splittable(counts):
        raise ValueError(
            f"the names of run {source_run_id} give {counts['agent']} agent and {counts['customer']} customer "
            f"sentences ({counts['other']} other): a role split needs both; rename clusters with agent verbs "
            "(greet-, ask-, provide-, …) or customer verbs (inquire-, request-, …) first"
        )
