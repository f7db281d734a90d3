"""One LoRA training step of the packaged LLM, in float32 and in bfloat16: what `lora.compute_dtype` chooses between.

Usage: .venv/bin/python bench/lora_step.py [--tokens 300] [--steps 2] [--dtypes float32 bfloat16]

A judge-shaped example (a system prompt, about `--tokens` tokens of customer queries, a one-token answer), rank 8
adapters on every projection as `LoraSettings` has them, one example a step, forward and backward, the frozen
weights in the precision named and the pass under bfloat16 autocast when that is the precision (as `train_lora`
runs it). Prints seconds per step (the first step apart: it warms the allocator) and whether PyTorch finds native
bfloat16 on this CPU, which is the rule the product follows.
"""

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from dialin_core.llm import lora  # noqa: E402
from dialin_core.llm.models import DEFAULT_LOCAL_MODEL, resolve_gguf  # noqa: E402

QUERIES = ["how do I top up my card", "can I add money with a cheque", "where can I top up", "my top up failed",
           "why was my top up declined", "is there a fee to top up by card"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    args = parser.parse_args()
    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)()
    print(f"native bfloat16 on this CPU (PyTorch's oneDNN check): {native}; the product trains in {lora.compute_dtype()}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    path = resolve_gguf(DEFAULT_LOCAL_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    queries = []
    while len(tokenizer("\n".join(queries))["input_ids"]) < args.tokens:
        queries.append(QUERIES[len(queries) % len(QUERIES)])
    example = lora.ChatExample(messages=(("system", "Answer Good if these customer queries share one intent, Bad otherwise."),
                                         ("user", "\n".join(queries))), answer="Good")
    print("| precision | load (s) | first step (s) | later steps (s, mean) | tokens |\n| --- | --- | --- | --- | --- |")
    for name in args.dtypes:
        dtype = getattr(torch, name)
        started = time.perf_counter()
        network = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype)
        peft_model = lora._with_adapters(network, lora.LoraSettings().rank, lora.LoraSettings().alpha)
        peft_model.train()
        load = time.perf_counter() - started
        prompt, answer = lora._example_ids(tokenizer, example)
        steps = []
        for _ in range(args.steps):
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype, enabled=dtype == torch.bfloat16):
                logits = peft_model(input_ids=torch.tensor([prompt + answer]), logits_to_keep=len(answer) + 1).logits[0, :-1].float()
            torch.nn.functional.cross_entropy(logits, torch.tensor(answer)).backward()
            steps.append(time.perf_counter() - started)
        later = sum(steps[1:]) / len(steps[1:]) if len(steps) > 1 else float("nan")
        print(f"| {name} | {load:.1f} | {steps[0]:.1f} | {later:.1f} | {len(prompt) + len(answer)} |", flush=True)
        del peft_model, network


if __name__ == "__main__":
    main()
