"""llama.cpp through `llama-cpp-python`, the design's binding, answering a ChatRequest as the prebuilt server does.

The two bindings must give the same answers, so this follows what llama.cpp's server does with a request: the
GGUF's own chat template (rendered with jinja2, as the server renders it), flash attention (which the server's
"auto" turns on for a CPU; without it the verdict probabilities differed by up to 0.02), greedy decoding (top-k 1),
a GBNF grammar or a JSON schema turned into one, and the first token's probabilities from the raw logits over the
whole vocabulary, before any grammar or sampler. Those are read from the context after the prompt is evaluated,
rather than through the binding's `logprobs` option, which keeps every position's logits (a context's worth of
vocabulary-sized rows, gigabytes at 4,096 tokens) and computes the output layer for every prompt token.

Like the server, it keeps the part of the previous prompt that the next one starts with and evaluates the rest (a
judge's calls share their instructions). llama.cpp's numbers depend a little on how a prompt was split into
batches, so both bindings answer alike when asked the same questions in the same order (tested; the server's store
of earlier prompt states, which broke this, is off), and either may move a probability in the second decimal when
the question before it differs.
"""

import json

import numpy as np
from scipy.special import logsumexp

from dialin_core.llm.base import ChatRequest, ChatResponse, merge_token_logprobs


class LlamaCppPython:
    """One model (and LoRA adapter) loaded; not thread-safe: the caller holds a lock around each call."""

    def __init__(self, gguf_path: str, *, n_threads: int, n_ctx: int, adapter: str | None) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = Llama(model_path=gguf_path, n_ctx=n_ctx, n_batch=512, n_ubatch=512, n_threads=n_threads,
                         n_threads_batch=n_threads, lora_path=adapter, flash_attn=True, seed=0, verbose=False)
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=self.llm.metadata["tokenizer.chat_template"],
            eos_token=self._token_text(eos), bos_token=self._token_text(bos), stop_token_ids=[eos],
        )

    def _token_text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace") if token != -1 else ""

    def __call__(self, request: ChatRequest) -> ChatResponse:
        from llama_cpp import LlamaGrammar

        prompt = self.formatter(messages=[{"role": role, "content": content} for role, content in request.messages])
        tokens = self.llm.tokenize(prompt.prompt.encode("utf-8"), add_bos=not prompt.added_special, special=True)
        first_token = self._first_token_logprobs(tokens, request.top_logprobs) if request.top_logprobs else {}
        grammar = None
        if request.json_schema:
            grammar = LlamaGrammar.from_json_schema(json.dumps(request.json_schema), verbose=False)
        elif request.grammar:
            grammar = LlamaGrammar.from_string(request.grammar, verbose=False)
        completion = self.llm.create_completion(
            prompt=tokens, max_tokens=request.max_tokens, temperature=request.temperature, top_k=1, grammar=grammar,
            stop=prompt.stop, stopping_criteria=prompt.stopping_criteria, seed=0,
        )
        usage = completion["usage"]
        return ChatResponse(
            text=completion["choices"][0]["text"],
            first_token_logprobs=first_token,
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
        )

    def _first_token_logprobs(self, tokens: list[int], top: int) -> dict[str, float]:
        """The `top` likeliest first tokens, by the model's softmax over its whole vocabulary after the prompt.

        As the server does, the prompt's longest prefix still in the context from the previous call is kept and only
        the rest evaluated (at least the last token, for its logits); the completion that follows reuses it all."""
        import llama_cpp

        kept = 0
        for cached, token in zip(self.llm.input_ids[: self.llm.n_tokens], tokens[:-1]):
            if cached != token:
                break
            kept += 1
        self.llm.n_tokens = kept  # eval drops the context's cache past this point
        self.llm.eval(tokens[kept:])
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm.ctx, -1), shape=(self.llm.n_vocab(),))
        logprobs = logits - logsumexp(logits)
        best = np.argsort(-logprobs, kind="stable")[:top]
        return merge_token_logprobs([(self._token_text(int(t)), float(logprobs[t])) for t in best])
