"""The typed configuration of a discovery run, saved with the run so that it can be reproduced."""

from dataclasses import asdict, dataclass, field
from typing import Any

from dialin_core.clustering.vocabulary import LOOP_CLUSTERINGS, LOOP_SPACES
from dialin_core.embedding.models import DEFAULT_EMBEDDER
from dialin_core.llm.backends import BACKENDS

K_CHOICES: tuple[str, ...] = ("silhouette", "ratio")  # how the Dial-In loop chooses k (dialin_core.methods.dialin_loop)

LLMS: tuple[str, ...] = (*BACKENDS, "none")  # none: no LLM at all
JUDGES: tuple[str, ...] = ("cascade", "cohesion", "llm")  # see dialin_core.judging.cascade
# Each back end's default call budget and measured speed are declared with it (dialin_core.llm.backends).
DEFAULT_LLM_CALLS: dict[str, int] = {name: spec.default_calls for name, spec in BACKENDS.items()}
SECONDS_PER_CALL: dict[str, float] = {name: spec.seconds_per_call for name, spec in BACKENDS.items()}
# The Dial-In paper's LLM judge sees every cluster: the first iteration alone may cut at k_max, later ones at fewer, so
# its default budget adds 2 * k_max judging calls to the names' share of the default.
LLM_JUDGE_CALLS_PER_K_MAX = 2


@dataclass(frozen=True)
class RunConfig:
    """What a run does; defaults are the ones a first-time user should get."""

    method: str = "dialin"  # a name in dialin_core.methods.registry
    k: int | None = None  # k-means / agglomerative; None: chosen by silhouette over k_min..k_max
    k_min: int = 5
    k_max: int = 150
    k_step: int | None = None  # None: about 20 candidates between k_min and k_max
    min_cluster_size: int = 10  # HDBSCAN only
    seed: int = 0
    embedder: str = DEFAULT_EMBEDDER
    roles: tuple[str, ...] = field(default_factory=tuple)  # only utterances spoken in these roles; () = all
    with_map: bool = True  # compute 2-D coordinates for the studio's map
    # The Dial-In loop (method "dialin"); k_min/k_max bound its first search space.
    judge: str = "cascade"
    loop_clustering: str = "ward"  # how the loop clusters for each candidate k: "ward" or "kmeans"
    loop_space: str = "umap"  # where the loop clusters: a UMAP reduction ("umap") or the raw vectors ("embedding")
    loop_dimensions: int = 5  # of the UMAP reduction
    loop_k_choice: str = "silhouette"  # the first iteration's k: the "silhouette" plateau's centre, or the Dial-In paper's good/bad "ratio"
    keep_remainder: bool = True  # what the loop leaves is clustered once more, for review, not made outliers
    # The most utterances of one role group the loop clusters; past it, a sample of this many spread across the
    # dialogues, and the rest join the nearest intent (dialin_core.clustering.subsample). Ward's limit: its time
    # grows with n^2 (and in the raw space, loop_space "embedding", its memory: n^2/2 distances, 1.6 GB at 20,000;
    # in the UMAP space the tree is built from the points, 68 MiB at 20,000); beyond it the loop would use k-means.
    loop_sample: int = 20_000
    llm: str = "local"  # none: no LLM at all (cohesion judge, keyword names)
    llm_model: str | None = None  # None: the back end's default (the packaged GGUF for local)
    cohesion_model: str | None = None  # None: the judge shipped for the embedder
    # The LoRA adapter the local LLM judges with (dialin_core.judging.llm_tuning): "shipped" (tuned on BANKING77 train;
    # it applies to the packaged model only, any other model judges as it is), "none" (untuned), or a workspace's llm-judge-N.
    # Shipped by default: with it the loop's ACC rose on both dev sets at the same call count (BENCHMARKS.md).
    llm_judge: str = "shipped"
    # The LoRA adapter the local LLM names with (dialin_core.naming.llm_tuning): "shipped" (tuned on BANKING77 train,
    # for English names and the packaged model only), "none" (untuned, with the prompt's examples), or a workspace's llm-namer-N.
    # Shipped by default: on the SGD turns, a domain it never saw, its names scored 0.23 against the untuned model's 0.10
    # and keyword names' 0.19 (BENCHMARKS.md). Either setting also takes the path of an adapter file.
    llm_namer: str = "shipped"
    max_iterations: int = 5
    n_candidates: int = 5
    max_llm_calls: int | None = None  # judging and naming together; None: DEFAULT_LLM_CALLS for the back end
    # Of the budget, kept for naming; judging may use the rest. Names first: every final cluster should get an
    # LLM name (merge proposals compare names), while the packaged model judges near chance (AUC 0.58).
    naming_share: float = 0.8
    min_remainder: int = 20
    min_intent_size: int = 5  # the loop never keeps a smaller cluster
    leftover_min_cosine: float = 0.4  # leftovers nearer than this to a kept cluster join it, else outlier
    separate_roles: bool = True  # customer and agent utterances are clustered apart when both exist
    auto_merge: bool = False  # apply merge proposals without review (headless runs)
    refine_of: int | None = None  # a reviewed run: its good and approved clusters are kept, the rest re-clustered
    roles_from: int | None = None  # a finished run whose cluster names give each utterance its role (Dial-In LLM paper, section 3.4)
    # Label generation (method "labelgen", Text Clustering as Classification with LLMs); the LLM settings above name its back end.
    labelgen_batch: int = 15  # utterances per label-generation call (that paper's B)
    classify_batch: int = 8  # utterances per classification call
    candidate_labels: int = 4  # nearest labels (by prototype) offered per utterance; 0: every label
    # The nearest label stands without the LLM when it leads the next by this cosine; 1: the LLM classifies
    # every utterance. 0 by default: the packaged 0.5B model's choices are worse than the nearest prototype.
    sure_margin: float = 0.0
    min_share: float = 0.006  # a generated label holding less of the utterances is not an intent (at least 2 utterances)
    example_labels: tuple[str, ...] = field(default_factory=tuple)  # e.g. approved names of a reviewed run
    leftovers_of: int | None = None  # a finished dialin run: label only its leftovers, keep its clusters

    def __post_init__(self) -> None:
        # the method's own checks and those of the runs it builds on (imported here: the methods import this module)
        from dialin_core.methods.registry import validate

        validate(self)
        if self.labelgen_batch < 1 or self.classify_batch < 1:
            raise ValueError(f"batch sizes must be at least 1, got {self.labelgen_batch} and {self.classify_batch}")
        if not 0 <= self.min_share < 1:
            raise ValueError(f"the minimum share of a label must be in [0, 1), got {self.min_share}")
        if self.candidate_labels == 1 or self.candidate_labels < 0:
            raise ValueError(f"candidate labels must be 0 (all) or at least 2, got {self.candidate_labels}")
        if self.k is not None and self.k < 2:
            raise ValueError(f"k must be at least 2, got {self.k}")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, k_max={self.k_max}")
        if self.min_cluster_size < 2:
            raise ValueError(f"min_cluster_size must be at least 2, got {self.min_cluster_size}")
        if self.judge not in JUDGES:
            raise ValueError(f"unknown judge '{self.judge}': choose one of {', '.join(JUDGES)}")
        if self.loop_clustering not in LOOP_CLUSTERINGS:
            raise ValueError(f"unknown loop clustering '{self.loop_clustering}': choose one of {', '.join(LOOP_CLUSTERINGS)}")
        if self.loop_space not in LOOP_SPACES:
            raise ValueError(f"unknown loop space '{self.loop_space}': choose one of {', '.join(LOOP_SPACES)}")
        if self.loop_k_choice not in K_CHOICES:
            raise ValueError(f"unknown k choice '{self.loop_k_choice}': choose one of {', '.join(K_CHOICES)}")
        if self.loop_sample < 100:
            raise ValueError(f"the loop's sample needs at least 100 utterances, got {self.loop_sample}")
        if self.loop_dimensions < 2:
            raise ValueError(f"the loop's UMAP reduction needs at least 2 dimensions, got {self.loop_dimensions}")
        if self.llm not in LLMS:
            raise ValueError(f"unknown LLM back end '{self.llm}': choose one of {', '.join(LLMS)}")
        if self.llm_judge not in ("shipped", "none") and self.llm != "local":
            raise ValueError(f"the tuned LLM judge '{self.llm_judge}' is an adapter of the local model: use --llm local")
        if self.llm_namer not in ("shipped", "none") and self.llm != "local":
            raise ValueError(f"the tuned LLM namer '{self.llm_namer}' is an adapter of the local model: use --llm local")
        if self.llm == "none" and self.judge != "cohesion":
            raise ValueError(f"the {self.judge} judge needs an LLM: use --judge cohesion with --llm none")
        if (self.max_llm_calls or 0) < 0 or self.max_iterations < 1 or self.n_candidates < 1:
            raise ValueError("max_llm_calls must be >= 0, max_iterations and n_candidates >= 1")
        if not 0.0 <= self.naming_share <= 1.0:
            raise ValueError(f"naming_share must be between 0 and 1, got {self.naming_share}")

    @property
    def llm_call_budget(self) -> int:
        """The run's LLM calls, judging and naming together: what a back end affords in about ten minutes,
        plus, for the Dial-In paper's LLM-only judge, enough to judge every cluster the loop cuts."""
        if self.llm == "none":
            return 0
        if self.max_llm_calls is not None:
            return self.max_llm_calls
        extra = LLM_JUDGE_CALLS_PER_K_MAX * self.k_max if self.judge == "llm" else 0
        return DEFAULT_LLM_CALLS[self.llm] + extra

    @property
    def judging_calls(self) -> int:
        """What judging may spend of the budget. The cascade asks the LLM about a few uncertain clusters and
        leaves `naming_share` to names; the LLM-only judge keeps for names only their share of the default."""
        if self.judge == "llm":
            return max(0, self.llm_call_budget - round(DEFAULT_LLM_CALLS[self.llm] * self.naming_share))
        return round(self.llm_call_budget * (1 - self.naming_share))

    def cost_estimate(self) -> str:
        """What a run may cost, said before it starts: its method's estimate."""
        from dialin_core.methods.registry import discovery_method

        return discovery_method(self.method).cost_estimate(self)

    def k_candidates(self, n_items: int) -> list[int]:
        """The silhouette search space, clipped to what `n_items` utterances allow."""
        upper = min(self.k_max, n_items - 1)
        step = self.k_step or max(1, (upper - self.k_min) // 20)
        return list(range(self.k_min, upper + 1, step))

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> "RunConfig":
        """The configuration a run was stored with (JSON has lists where the dataclass has tuples).

        Runs stored before the loop could use Ward clustered with k-means, and runs stored before the loop
        clustered a UMAP reduction chose k by the good/bad ratio on the raw vectors: each resumes as it started.
        A setting no longer known is dropped.
        """
        older = {"loop_clustering": "kmeans", "loop_space": "embedding", "loop_k_choice": "ratio", "keep_remainder": False, "llm_judge": "none",
                 "llm_namer": "none"}
        known = {k: v for k, v in stored.items() if k in cls.__dataclass_fields__}  # settings a later version dropped
        return cls(**{**older, **known, "roles": tuple(stored.get("roles", ())), "example_labels": tuple(stored.get("example_labels", ()))})

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "roles": list(self.roles), "example_labels": list(self.example_labels)}
