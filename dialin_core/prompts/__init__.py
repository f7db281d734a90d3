"""Prompt templates and few-shot examples live in files beside this module, not in code."""

import json
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def template(name: str) -> str:
    """The text of `<name>.txt`, without its trailing newline."""
    return files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8").rstrip("\n")


@cache
def examples(name: str) -> tuple[dict[str, Any], ...]:
    """Few-shot examples from `<name>_examples.json`: [{"sentences": [...], "answer": "..."}]."""
    return tuple(json.loads(files(__name__).joinpath(f"{name}_examples.json").read_text(encoding="utf-8")))


def numbered(sentences: list[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
