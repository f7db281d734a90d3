"""Discovery methods behind one protocol, looked up by the name a run's configuration stores.

The CLI, the background jobs, the progress view and the Discover page ask this registry what a method
needs and how to run it, instead of matching method names: a new method is one module holding a
`DiscoveryMethod` and one `register` line below (scikit-learn's one protocol; BERTopic's one file per
variant, chosen by name).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the methods import RunConfig, which validates through this module: no import at load time
    from dialin_core.config import RunConfig
    from dialin_core.data.store import Store
    from dialin_core.methods.baselines import RunResult

# The Discover form's and the CLI's groups of settings; a method shows and reads only its own.
SETTING_GROUPS: tuple[str, ...] = (
    "k",  # a fixed k, or the silhouette's choice within the k bounds
    "k_bounds",  # the k search space
    "min_cluster_size",  # density clustering's smallest cluster
    "llm",  # the LLM back end and model
    "loop",  # the Dial-In loop: judge, iterations, candidates, call budget, roles, remainder
    "labelgen",  # label generation: labels offered, sure margin, smallest intent
)
# Settings that build a run on another run; a method takes only those it names in `follow_ups`.
FOLLOW_UPS: dict[str, str] = {
    "refine_of": "refines a reviewed run",
    "roles_from": "reads roles from a run's names",
    "leftovers_of": "labels the leftovers of another run",
}


@dataclass(frozen=True)
class RunHooks:
    """What a caller may inject into a run's work: the Dial-In loop's tools (a test's scripted LLM, the
    studio's shared embedder) and a listener for each stored step (the CLI's log)."""

    tools: Callable[["Store", "RunConfig"], Any] | None = None
    on_event: Callable[[dict[str, Any]], None] | None = None


class DiscoveryMethod(Protocol):
    """One way of finding intents in a data set's utterances, from a stored run's row to its clusters."""

    name: str
    description: str  # one line for the Discover page and the CLI's help
    settings: frozenset[str]  # of SETTING_GROUPS
    follow_ups: frozenset[str]  # of FOLLOW_UPS
    resumes: bool  # continues from its last stored step; else a resumed run starts over
    llm_budget: bool  # its LLM calls are bounded by the run's call budget (and counted against it live)

    def validate(self, config: "RunConfig") -> None:
        """Raise ValueError, worded for the user, when the configuration asks what this method cannot do."""

    def create(self, store: "Store", dataset_id: int, config: "RunConfig") -> int:
        """The run's row, once the data set is known to suit the method; `complete` does the work."""

    def complete(self, store: "Store", run_id: int, hooks: RunHooks) -> "RunResult":
        """Work a created, paused, failed or interrupted run to its end and store the result."""

    def cost_estimate(self, config: "RunConfig") -> str:
        """What a run may cost in LLM calls and time, said before it starts."""


_registered: dict[str, DiscoveryMethod] = {}


@cache
def _builtin() -> dict[str, DiscoveryMethod]:
    """The methods this package ships. Imported on first use: their modules import RunConfig, whose
    validation comes here, so they cannot be imported while this module loads."""
    from dialin_core.methods.baselines import BASELINES
    from dialin_core.methods.dialin import DIALIN
    from dialin_core.methods.labelgen import LABELGEN

    return {method.name: method for method in (DIALIN, LABELGEN, *BASELINES)}


def _methods() -> dict[str, DiscoveryMethod]:
    return {**_builtin(), **_registered}


def register(method: DiscoveryMethod) -> None:
    """Make `method` available under its name, after the shipped ones (a name registered again is replaced)."""
    _registered[method.name] = method


def unregister(name: str) -> None:
    _registered.pop(name, None)


def registered_methods() -> tuple[DiscoveryMethod, ...]:
    """The methods registered in this process on top of the shipped ones: what a run worker is sent, so that
    it knows them too (dialin_core.methods.worker)."""
    return tuple(_registered.values())


def use_registered(methods: tuple[DiscoveryMethod, ...]) -> None:
    """Make this process's registered methods exactly `methods` (a run worker mirroring its server)."""
    _registered.clear()
    _registered.update({method.name: method for method in methods})


def method_names() -> tuple[str, ...]:
    return tuple(_methods())


def discovery_method(name: str) -> DiscoveryMethod:
    methods = _methods()
    if name not in methods:
        raise ValueError(f"unknown method '{name}': choose one of {', '.join(methods)}")
    return methods[name]


def validate(config: "RunConfig") -> None:
    """The checks of the method a configuration names, and of the runs it builds on."""
    method = discovery_method(config.method)
    for field, what in FOLLOW_UPS.items():
        if getattr(config, field) is not None and field not in method.follow_ups:
            takers = [m.name for m in _methods().values() if field in m.follow_ups]
            raise ValueError(f"only a {' or '.join(takers)} run {what}, not a {method.name} run")
    method.validate(config)
