"""Tuned adapters of the local LLM as the product keeps them: a LoRA GGUF llama.cpp loads, with a JSON record.

The judge and the namer are both taught the same way (`dialin_core.llm.lora`) and kept the same way: each adapter
is `<prefix>N.gguf` in a folder beside the workspace (or shipped inside the package), and its record says what it
learnt from, what training cost, how it scored on examples held out of training and which library versions made
it. What differs between the two is what the examples are and how the held-out ones are scored, which the
callers of `train_adapter` pass in.
"""

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from dialin_core.llm.lora import ChatExample, LoraSettings, TrainedLora, train_lora
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL

HELD_OUT = 0.1  # of the examples, scored after training and never trained on (at most MAX_HELD_OUT)
MAX_HELD_OUT = 120
MIN_HELD_OUT = 20  # fewer held-out examples measure nothing: none are held out
ProgressListener = Callable[[int, int], None]
# Scores the trained adapter on the held-out examples, reporting progress per example; with none held out its
# keys say None, so every record has them.
HeldOutScorer = Callable[[TrainedLora, list[ChatExample], Callable[[], None]], dict[str, Any]]


@dataclass(frozen=True)
class Adapter:
    """One adapter as its record says."""

    name: str
    path: Path  # the .gguf adapter
    record: dict[str, Any]

    @property
    def base(self) -> str:
        return self.record["base"]

    @property
    def language(self) -> str | None:
        """The language of the prompts it was taught on, where the task has one (the namer's)."""
        return self.record.get("language")


@dataclass(frozen=True)
class Source:
    """A set of examples and what to say of it in the record."""

    kind: str  # "labelled" or "analyst"
    source: str  # a data set or the workspace, in words
    examples: list[ChatExample]
    detail: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "examples": len(self.examples), **self.detail}


def split_held_out(examples: Sequence[ChatExample], seed: int) -> tuple[list[ChatExample], list[ChatExample]]:
    """(taught, held out) in a seeded order; nothing is held out when its share would be under MIN_HELD_OUT."""
    order = np.random.default_rng(seed).permutation(len(examples))
    n_held = min(MAX_HELD_OUT, int(len(examples) * HELD_OUT))
    n_held = n_held if n_held >= MIN_HELD_OUT else 0
    return [examples[i] for i in order[n_held:]], [examples[i] for i in order[:n_held]]


def train_adapter(sources: Sequence[Source], out: Path, score_held_out: HeldOutScorer, settings: LoraSettings = LoraSettings(),
                  model: str = DEFAULT_LOCAL_MODEL, start_from: Path | None = None, on_progress: ProgressListener | None = None,
                  **record: Any) -> Adapter:
    """Train an adapter on the sources' examples less a held-out share, score it on those, write it to `out`
    (.gguf, whole or not at all) with its record (.json: the sources, `record`, the scores and what training cost)."""
    examples = [e for s in sources for e in s.examples]
    taught, held = split_held_out(examples, settings.seed)
    total = len(taught) + len(held)
    trained = train_lora(taught, settings, model, (lambda done, _: on_progress(done, total)) if on_progress else None, start_from)
    done = len(taught)

    def step() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, total)

    scores = score_held_out(trained, held, step)
    out.parent.mkdir(parents=True, exist_ok=True)
    trained.write_gguf(out)
    record = {
        "name": out.stem, "base": model, "sources": [s.summary() for s in sources], **record,
        "start_from": start_from.stem if start_from is not None else None, "taught": len(taught), **scores, **trained.summary(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "libraries": {p: version(p) for p in ("peft", "transformers", "torch", "gguf")},
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return Adapter(out.stem, out, record)


def read_adapter(path: Path) -> Adapter:
    record_path = Path(path).with_suffix(".json")
    if not Path(path).is_file() or not record_path.is_file():
        raise ValueError(f"no tuned adapter at {path} (an adapter .gguf and its .json record)")
    return Adapter(Path(path).stem, Path(path), json.loads(record_path.read_text(encoding="utf-8")))


def adapters_in(folder: Path, prefix: str) -> list[Adapter]:
    """The `prefix`N adapters kept in `folder` (with their records), newest first."""
    found = [read_adapter(p) for p in folder.glob(f"{prefix}*.gguf")
             if adapter_number(p.name, prefix) is not None and p.with_suffix(".json").is_file()] if folder.is_dir() else []
    return sorted(found, key=lambda a: adapter_number(a.path.name, prefix), reverse=True)


def next_adapter_path(folder: Path, prefix: str) -> Path:
    """`prefix`N+1.gguf after the highest N any file in `folder` holds (a half-written .partial included)."""
    numbers = [adapter_number(p.name, prefix) for p in folder.glob(f"{prefix}*")] if folder.is_dir() else []
    return folder / f"{prefix}{max([n for n in numbers if n is not None], default=0) + 1}.gguf"


def adapter_number(file_name: str, prefix: str) -> int | None:
    """N of an adapter's files (`prefix`N.gguf, .json, .gguf.partial); None for any other file."""
    found = re.match(rf"{re.escape(prefix)}(\d+)\.", file_name)
    return int(found.group(1)) if found else None


def is_workspace_adapter_name(name: str, prefix: str) -> bool:
    return re.fullmatch(rf"{re.escape(prefix)}\d+", name) is not None


def resolve_adapter(name: str, *, what: str, prefix: str, shipped: Path, folder: Path | None) -> Adapter | None:
    """The adapter a run's setting names: None for "none", the `shipped` file for "shipped", `prefix`N kept in
    the workspace's `folder` (None: a workspace in memory, which keeps none), or the path of an adapter file with
    its record (one trained elsewhere, or measured before it ships); `what` ("LLM judge") words the errors."""
    option = "--" + what.lower().replace(" ", "-")  # "LLM judge": --llm-judge
    if name == "none":
        return None
    if name == "shipped":
        if not shipped.is_file():
            raise ValueError(f"no tuned {what} is shipped for this local model: use {option} none or tune one")
        return read_adapter(shipped)
    if name.endswith(".gguf"):
        path = Path(name)
        if not (path.is_file() and path.with_suffix(".json").is_file()):
            raise ValueError(f"no tuned {what} at {name}: an adapter is a .gguf file with its record (.json) beside it")
        return read_adapter(path)
    if folder is None or not is_workspace_adapter_name(name, prefix):
        raise ValueError(f"unknown tuned {what} '{name}': use shipped, none, the name of one tuned for the workspace ({prefix}N) "
                         "or the path of an adapter .gguf")
    path = folder / f"{name}.gguf"
    if not path.is_file():
        raise ValueError(f"no tuned {what} '{name}' beside workspace {folder.parent} (looked in {folder})")
    return read_adapter(path)
