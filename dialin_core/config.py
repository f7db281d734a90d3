"""The typed configuration of a discovery run, saved with the run so that it can be reproduced."""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from dialin_core.embed import DEFAULT_EMBEDDER

Method = Literal["kmeans", "agglomerative", "hdbscan"]
METHODS: tuple[str, ...] = ("kmeans", "agglomerative", "hdbscan")


@dataclass(frozen=True)
class RunConfig:
    """What a run does; defaults are the ones a first-time user should get."""

    method: Method = "kmeans"
    k: int | None = None  # k-means / agglomerative; None: chosen by silhouette over k_min..k_max
    k_min: int = 5
    k_max: int = 150
    k_step: int | None = None  # None: about 20 candidates between k_min and k_max
    min_cluster_size: int = 10  # HDBSCAN only
    seed: int = 0
    embedder: str = DEFAULT_EMBEDDER
    roles: tuple[str, ...] = field(default_factory=tuple)  # only utterances spoken in these roles; () = all
    with_map: bool = True  # compute 2-D coordinates for the studio's map

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method '{self.method}': choose one of {', '.join(METHODS)}")
        if self.k is not None and self.k < 2:
            raise ValueError(f"k must be at least 2, got {self.k}")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, k_max={self.k_max}")
        if self.min_cluster_size < 2:
            raise ValueError(f"min_cluster_size must be at least 2, got {self.min_cluster_size}")

    def k_candidates(self, n_items: int) -> list[int]:
        """The silhouette search space, clipped to what `n_items` utterances allow."""
        upper = min(self.k_max, n_items - 1)
        step = self.k_step or max(1, (upper - self.k_min) // 20)
        return list(range(self.k_min, upper + 1, step))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "roles": list(self.roles)}
