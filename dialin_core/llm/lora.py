"""LoRA fine-tuning of the packaged local LLM on chat examples, written as an adapter llama.cpp serves.

The Dial-In LLM paper (section 4.1, Tables 2 and 3) turns small open LLMs into judges and namers that agree
with people by fine-tuning them with LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
2022); untuned, the packaged 0.5B model judges at chance here (BENCHMARKS.md). Training runs where the product
runs, on a few CPU cores:
- transformers reads the packaged GGUF itself, its Q4_K_M weights in the compute precision `compute_dtype`
  picks: bfloat16 where the CPU has bfloat16 instructions (half the memory and faster steps), float32 where
  bfloat16 would be emulated (a step 30 times slower on an AVX2-only CPU);
- peft puts rank-r adapters on every projection of every layer, kept in float32 whatever the frozen weights are;
- a plain torch loop trains them with the loss on the answer's tokens only (transformers' Trainer refuses a
  model read from a GGUF: it counts as quantized);
- the adapters are written in llama.cpp's LoRA format (a GGUF with general.type "adapter"), which the local
  back end loads beside the unchanged base file: the tuned model is the packaged one plus a few megabytes.
peft's lora_A (r x in) and lora_B (out x r) are llama.cpp's lora_a and lora_b as they are, and llama.cpp
scales them by alpha / r as peft does, so the served adapter computes what was trained.
"""

import re
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from dialin_core.llm.models import DEFAULT_LOCAL_MODEL, resolve_gguf

Messages = tuple[tuple[str, str], ...]  # (role, content), as ChatRequest holds them
ProgressListener = Callable[[int, int], None]  # (examples done, examples in all)
# Qwen2's projections and their names in llama.cpp's tensor table (gguf-py's constants, MODEL_ARCH.QWEN2)
PROJECTIONS = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}
_PEFT_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.")


@dataclass(frozen=True)
class LoraSettings:
    """How the adapters are trained. Rank 8 on all seven projections is 4.4 million parameters (8.8 MB as
    float16) for the 0.5B model; the learning rate is the LoRA paper's range for small models."""

    rank: int = 8
    alpha: float = 16.0
    learning_rate: float = 2e-4
    epochs: int = 1
    batch_size: int = 8  # examples per optimiser step (gradients accumulated: one example in memory at a time)
    warmup_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha <= 0 or self.learning_rate <= 0:
            raise ValueError("LoRA needs a rank of at least 1, a positive alpha and a positive learning rate")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("training needs at least 1 epoch and batches of at least 1 example")


@dataclass(frozen=True)
class ChatExample:
    """A prompt and the answer the model should give to it."""

    messages: Messages
    answer: str
    # the answer ends the model's turn: the end-of-turn token is taught too. A judge is read off its first token;
    # a namer generates, and must learn where its name stops.
    ends_turn: bool = False


@dataclass
class TrainedLora:
    """The base model with its trained adapters, and what training cost."""

    model: Any  # a peft PeftModel
    tokenizer: Any
    base: str  # the packaged model's name or the GGUF path it was read from
    settings: LoraSettings
    examples: int
    seconds: float
    peak_memory_mb: float  # the process's peak resident memory when training ended
    step_losses: list[float] = field(default_factory=list)  # the mean loss of each optimiser step

    def first_token_probabilities(self, messages: Messages, answers: Sequence[str]) -> np.ndarray:
        """P(each answer's first token) renormalised over the answers: what the served judge reads off llama.cpp's
        first-token log-probabilities, here off the trained model itself."""
        import torch

        ids = _prompt_ids(self.tokenizer, messages)
        firsts = [self.tokenizer.encode(a, add_special_tokens=False)[0] for a in answers]
        self.model.eval()
        with torch.no_grad(), _autocast():
            logits = self.model(input_ids=torch.tensor([ids]), logits_to_keep=1).logits[0, -1].float()
        return torch.softmax(logits[firsts], dim=-1).numpy()

    def answer_loss(self, example: ChatExample, adapted: bool = True) -> float:
        """The mean cross-entropy of the example's answer tokens, with the adapters or (adapted=False) without."""
        import torch
        from contextlib import nullcontext

        prompt, answer = _example_ids(self.tokenizer, example)
        self.model.eval()
        with torch.no_grad(), _autocast(), (nullcontext() if adapted else self.model.disable_adapter()):
            logits = self.model(input_ids=torch.tensor([prompt + answer]), logits_to_keep=len(answer) + 1).logits[0, :-1].float()
        return float(torch.nn.functional.cross_entropy(logits, torch.tensor(answer)))

    def write_gguf(self, path: Path) -> Path:
        """The adapters in llama.cpp's LoRA format, float16 (`path` is written whole or not at all)."""
        write_gguf_adapter(self.model.state_dict(), path, self.settings.alpha)
        return path

    def summary(self) -> dict[str, Any]:
        return {"base": self.base, "settings": asdict(self.settings), "examples": self.examples, "seconds": round(self.seconds, 1),
                "peak_memory_mb": round(self.peak_memory_mb), "first_loss": _mean_head(self.step_losses),
                "last_loss": _mean_head(self.step_losses[::-1])}


@cache
def compute_dtype() -> Any:
    """bfloat16 where the CPU computes it natively (AVX-512 or AMX, as PyTorch's oneDNN check reads the CPU),
    float32 elsewhere: on a 2-core AVX2-only machine one training step of a 300-token example took 212 s in
    emulated bfloat16 against 7.4 s in float32, which turned a minutes-long fine-tuning into hours."""
    import torch

    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    return torch.bfloat16 if native() else torch.float32


def _autocast() -> Any:
    """The trained and scored passes in `compute_dtype` (a no-op context in float32)."""
    import torch

    dtype = compute_dtype()
    return torch.autocast("cpu", dtype=dtype, enabled=dtype == torch.bfloat16)


def load_for_training(model: str = DEFAULT_LOCAL_MODEL) -> tuple[Any, Any]:
    """The tokenizer and the model transformers reads from the GGUF file, in `compute_dtype` (tens of seconds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    path = resolve_gguf(model)
    transformers_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    network = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=compute_dtype())
    return tokenizer, network


def train_lora(examples: Sequence[ChatExample], settings: LoraSettings = LoraSettings(), model: str = DEFAULT_LOCAL_MODEL,
               on_progress: ProgressListener | None = None, start_from: Path | None = None) -> TrainedLora:
    """Train adapters on the examples, in a seeded order, one example at a time; `start_from` continues a GGUF
    adapter written by `write_gguf` (its rank and alpha win over `settings`')."""
    import torch

    if not examples:
        raise ValueError("no examples to train on")
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    tokenizer, network = load_for_training(model)
    if start_from is not None:
        rank, alpha, tensors = read_gguf_adapter(start_from)
        settings = LoraSettings(**{**asdict(settings), "rank": rank, "alpha": alpha})
    peft_model = _with_adapters(network, settings.rank, settings.alpha)
    if start_from is not None:
        _load_adapter_tensors(peft_model, tensors)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    order = np.random.default_rng(settings.seed).permutation(np.tile(np.arange(len(examples)), settings.epochs))
    batches = [order[i:i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then linear decay to 0 at the last step
        optimiser, lambda step: min(1.0, (step + 1) / max(settings.warmup_steps, 1)) * max(0.0, 1 - step / len(batches)))
    peft_model.train()
    losses: list[float] = []
    done = 0
    for batch in batches:
        batch_loss = 0.0
        for index in batch:  # one example in memory at a time, gradients summed over the batch
            prompt, answer = _example_ids(tokenizer, examples[index])
            with _autocast():
                logits = peft_model(input_ids=torch.tensor([prompt + answer]), logits_to_keep=len(answer) + 1).logits[0, :-1].float()
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(answer)) / len(batch)
            loss.backward()
            batch_loss += float(loss.detach())
            done += 1
            if on_progress is not None:
                on_progress(done, len(order))
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        losses.append(round(batch_loss, 4))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return TrainedLora(peft_model, tokenizer, model, settings, len(examples), time.perf_counter() - started, peak, losses)


def load_adapter(path: Path, model: str = DEFAULT_LOCAL_MODEL) -> TrainedLora:
    """The base model with an adapter read back from its GGUF file, in torch: to score it as it was trained."""
    started = time.perf_counter()
    rank, alpha, tensors = read_gguf_adapter(path)
    tokenizer, network = load_for_training(model)
    peft_model = _with_adapters(network, rank, alpha)
    _load_adapter_tensors(peft_model, tensors)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return TrainedLora(peft_model, tokenizer, model, LoraSettings(rank=rank, alpha=alpha), 0, time.perf_counter() - started, peak)


def _with_adapters(network: Any, rank: int, alpha: float) -> Any:
    """The peft model: rank-r adapters on every projection, in float32 whatever the frozen weights' precision."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(network, LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", target_modules=list(PROJECTIONS)))
    for parameter in peft_model.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    return peft_model


def write_gguf_adapter(state: dict[str, Any], path: Path, alpha: float) -> None:
    """Write the lora_A / lora_B tensors of a peft state dict as llama.cpp's adapter GGUF at `path`."""
    import gguf

    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), arch="qwen2")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    written = 0
    for key, tensor in state.items():
        found = _PEFT_KEY.search(key)
        if found is None:
            continue
        layer, projection, half = found.groups()
        writer.add_tensor(f"blk.{layer}.{PROJECTIONS[projection]}.weight.lora_{half.lower()}",
                          tensor.detach().float().numpy().astype(np.float16))
        written += 1
    if not written:
        raise ValueError("the model holds no LoRA tensors to write")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(path)


def read_gguf_adapter(path: Path) -> tuple[int, float, dict[str, np.ndarray]]:
    """Rank, alpha and tensors (by llama.cpp name) of an adapter `write_gguf_adapter` wrote."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    fields = {name: reader.fields[name] for name in (gguf.Keys.General.TYPE, gguf.Keys.Adapter.TYPE, gguf.Keys.Adapter.LORA_ALPHA)
              if name in reader.fields}
    if len(fields) < 3 or fields[gguf.Keys.General.TYPE].contents() != "adapter" or fields[gguf.Keys.Adapter.TYPE].contents() != "lora":
        raise ValueError(f"{path} is not a LoRA adapter in llama.cpp's GGUF format")
    tensors = {t.name: np.array(t.data, dtype=np.float32).reshape([int(d) for d in reversed(t.shape)]) for t in reader.tensors}
    rank = next(v.shape[0] for k, v in tensors.items() if k.endswith(".lora_a"))
    return rank, float(fields[gguf.Keys.Adapter.LORA_ALPHA].contents()), tensors


def _load_adapter_tensors(peft_model: Any, tensors: dict[str, np.ndarray]) -> None:
    import torch

    state = peft_model.state_dict()
    loaded = {}
    for key in state:
        found = _PEFT_KEY.search(key)
        if found is not None:
            layer, projection, half = found.groups()
            loaded[key] = torch.from_numpy(tensors[f"blk.{layer}.{PROJECTIONS[projection]}.weight.lora_{half.lower()}"]).float()
    peft_model.load_state_dict(loaded, strict=False)


def _prompt_ids(tokenizer: Any, messages: Messages) -> list[int]:
    """The prompt as the model's own chat template renders it, ending where the assistant's answer starts, as
    llama.cpp renders a chat request from the template inside the GGUF."""
    turns = [{"role": role, "content": content} for role, content in messages]
    text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    return tokenizer.encode(text, add_special_tokens=False)


def _example_ids(tokenizer: Any, example: ChatExample) -> tuple[list[int], list[int]]:
    answer = tokenizer.encode(example.answer, add_special_tokens=False)
    if not answer:
        raise ValueError("an example's answer is empty")
    if example.ends_turn:
        answer.append(_end_of_turn(tokenizer))
    return _prompt_ids(tokenizer, example.messages), answer


def _end_of_turn(tokenizer: Any) -> int:
    """The token the chat template closes an assistant turn with (`<|im_end|>` for Qwen): read off the template
    itself, what follows an answer of one word."""
    turns = [{"role": "user", "content": "hi"}]
    prompt = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    closed = tokenizer.apply_chat_template([*turns, {"role": "assistant", "content": "ok"}], tokenize=False)
    if not closed.startswith(prompt + "ok"):
        raise ValueError("the model's chat template does not close an answer after its text: an end of turn cannot be taught")
    return tokenizer.encode(closed[len(prompt) + 2:], add_special_tokens=False)[0]


def _mean_head(losses: list[float], n: int = 10) -> float | None:
    return round(float(np.mean(losses[:n])), 4) if losses else None
