"""A sentence encoder for one short text at a time on a small CPU: the classifier's serving path.

Why not `embed.SentenceTransformerEmbedder` as is: on the 2-core development machine one MiniLM pass
over a ~12-token turn costs ~20 ms, and most of it is not arithmetic (a 1-token pass costs ~12 ms): it
is eager PyTorch and transformers' Python around ~100 small operations. Tracing the model with
TorchScript and freezing it removes most of that; int8 weights (per output channel, activations
quantised on the fly) halve the rest: ~5 ms a turn. The vectors are close to the float model's, not
equal (cosine ~0.96), so a classifier is trained and served on the same encoder, and its settings say
which.

Each text is encoded alone, in training too: int8 activations are scaled per call over the whole
input, so a text padded into a batch would get a different vector than it gets alone at serving time.
And on one thread: for one short text, a second thread only adds synchronisation, and on two busy
cores the two spin against each other (measured: ~0.5 s a turn instead of ~10 ms).

The pipeline is the sentence-transformers one for mean-pooled models (MiniLM): tokens truncated to
the model's max_seq_length, mean over the tokens, L2-normalised.
"""

import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from dialin_core.embedding.models import Embedder, load_embedder, resolve_model_path


class Int8Encoder:
    """A mean-pooled sentence-transformers model, int8 and TorchScript-traced; `encode` like any Embedder."""

    def __init__(self, model: str) -> None:
        self.name = f"{model}+int8"
        self._tokenizer, self._model, self._max_length = _load_traced(str(resolve_model_path(model)))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        vectors = []
        with torch.inference_mode(), _one_thread():
            for text in texts:
                tokens = self._tokenizer([text], truncation=True, max_length=self._max_length, return_tensors="pt")
                hidden = self._model(tokens["input_ids"], tokens["attention_mask"])["last_hidden_state"][0]
                vectors.append(torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy())
        return np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 0), dtype=np.float32)


@contextmanager
def _one_thread() -> Iterator[None]:
    """PyTorch on one thread for the duration, then as it was (the setting is process-wide)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=2)
def _load_traced(path: str):
    """(tokenizer, traced int8 model, max tokens), once per model folder per process: it takes seconds."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    folder = Path(path)
    pooling = folder / "1_Pooling" / "config.json"
    if not pooling.is_file() or not json.loads(pooling.read_text())["pooling_mode_mean_tokens"]:
        raise ValueError(f"the int8 encoder serves mean-pooled sentence-transformers models; {folder} is not one")
    config = folder / "sentence_bert_config.json"
    max_length = json.loads(config.read_text())["max_seq_length"] if config.is_file() else 256
    if not sys.stderr.isatty():
        transformers_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    example = tokenizer(["an example sentence to trace the model with"], return_tensors="pt")
    # Warnings here are about code paths the trace fixes (no padding: one text at a time) and the
    # eager quantisation API's future; neither concerns a user.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        model = quantize_dynamic(AutoModel.from_pretrained(folder).eval(), {torch.nn.Linear: per_channel_dynamic_qconfig})
        # strict=False: the traced model returns transformers' output dict
        traced = torch.jit.freeze(torch.jit.trace(model, (example["input_ids"], example["attention_mask"]), strict=False).eval())
    return tokenizer, traced, max_length


def load_encoder(name: str, quantized: bool) -> Embedder:
    """The classifier's encoder: the int8 traced one, or the project's float embedder."""
    return Int8Encoder(name) if quantized else load_embedder(name)
