"""The OpenAI-compatible back end against a real HTTP server on loopback, and the call cache."""

import json
import math
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dialin_core.data.store import Store
from dialin_core.llm.base import ChatRequest, LLMError
from dialin_core.llm.cache import CachedLLM
from dialin_core.llm.openai_backend import OpenAIBackend
from dialin_core.openai_http import OpenAISettings

GOOD_REPLY = {
    "choices": [
        {
            "message": {"role": "assistant", "content": "Good"},
            "logprobs": {
                "content": [
                    {
                        "token": "Good",
                        "logprob": math.log(0.6),
                        "top_logprobs": [
                            {"token": "Good", "logprob": math.log(0.6)},
                            {"token": " Good", "logprob": math.log(0.1)},
                            {"token": "Bad", "logprob": math.log(0.3)},
                        ],
                    }
                ]
            },
        }
    ],
    "usage": {"prompt_tokens": 42, "completion_tokens": 1},
}


class ScriptedServer:
    """Answers POSTs with the scripted (status, body) pairs in order, or with `script(body)` when it is a
    function, recording each request."""

    def __init__(self, script: list[tuple[int, dict]] | Callable[[dict], tuple[int, dict]]) -> None:
        self.respond = script if callable(script) else None
        self.script = [] if callable(script) else list(script)
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                owner.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length)),
                                       "auth": self.headers.get("Authorization")})
                if owner.respond:
                    status, body = owner.respond(owner.requests[-1]["body"])
                else:
                    status, body = owner.script.pop(0) if owner.script else (500, {"error": "script exhausted"})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


def backend_for(server: ScriptedServer, **overrides) -> OpenAIBackend:
    settings = OpenAISettings(base_url=server.base_url, model="judge-7b", api_key="k", backoff_seconds=0.01, **overrides)
    return OpenAIBackend(settings)


JUDGE = ChatRequest(messages=(("system", "Judge."), ("user", "cards...")), max_tokens=1, grammar='root ::= "Good" | "Bad"', top_logprobs=5)


def test_request_carries_model_messages_constraints_and_key():
    with ScriptedServer([(200, GOOD_REPLY)]) as server:
        backend_for(server).chat(JUDGE)
    (sent,) = server.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "Bearer k"
    body = sent["body"]
    assert body["model"] == "judge-7b"
    assert body["messages"] == [{"role": "system", "content": "Judge."}, {"role": "user", "content": "cards..."}]
    assert body["grammar"] == 'root ::= "Good" | "Bad"'
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["temperature"] == 0.0 and body["max_tokens"] == 1


def test_first_token_probabilities_merge_whitespace_variants():
    with ScriptedServer([(200, GOOD_REPLY)]) as server:
        response = backend_for(server).chat(JUDGE)
    assert response.text == "Good"
    assert response.probability_of("Good", "Bad") == pytest.approx({"Good": 0.7, "Bad": 0.3})
    assert (response.prompt_tokens, response.completion_tokens) == (42, 1)


def test_transient_errors_are_retried_with_backoff():
    with ScriptedServer([(503, {"error": "busy"}), (429, {"error": "slow down"}), (200, GOOD_REPLY)]) as server:
        assert backend_for(server).chat(JUDGE).text == "Good"
    assert len(server.requests) == 3


def test_a_client_error_is_not_retried_and_says_why():
    with ScriptedServer([(400, {"error": "unknown model judge-7b"})]) as server:
        with pytest.raises(LLMError, match="HTTP 400.*unknown model judge-7b"):
            backend_for(server).chat(JUDGE)
    assert len(server.requests) == 1


def test_an_unreachable_server_fails_after_the_retries():
    settings = OpenAISettings(base_url="http://127.0.0.1:9/v1", model="m", max_retries=1, backoff_seconds=0.01, timeout_seconds=2)
    with pytest.raises(LLMError, match="127.0.0.1:9/v1/chat/completions did not answer"):
        OpenAIBackend(settings).chat(JUDGE)


def test_settings_from_the_environment_and_a_clear_error_without(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("DIALIN_OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("DIALIN_OPENAI_MODEL", raising=False)
    with pytest.raises(ValueError, match="DIALIN_OPENAI_BASE_URL"):
        OpenAISettings.from_env()
    monkeypatch.setenv("DIALIN_OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    monkeypatch.setenv("DIALIN_OPENAI_MODEL", "qwen")
    settings = OpenAISettings.from_env()
    assert (settings.base_url, settings.model) == ("http://127.0.0.1:8000/v1", "qwen")


def test_cache_answers_a_repeated_request_without_calling_the_server(tmp_path):
    with ScriptedServer([(200, GOOD_REPLY)]) as server, Store(tmp_path / "w.duckdb") as store:
        llm = CachedLLM(backend_for(server), store)
        first = llm.chat(JUDGE)
        second = llm.chat(JUDGE)
        assert first == second
        assert len(server.requests) == 1
        assert llm.counts.as_dict() == {"calls": 1, "cached_calls": 1, "prompt_tokens": 42, "completion_tokens": 1}
    with Store(tmp_path / "w.duckdb") as store:  # persists across processes and runs
        again = CachedLLM(backend_for(server), store).chat(JUDGE)
    assert again == first


def test_a_json_schema_is_sent_as_response_format():
    from dialin_core.llm.openai_backend import request_body

    schema = {"type": "object", "properties": {"action": {"type": "string"}}, "required": ["action"]}
    body = request_body(ChatRequest(messages=(("user", "name it"),), json_schema=schema), "m")
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    assert "grammar" not in body and "logprobs" not in body


def test_a_reply_without_choices_is_a_clear_error():
    with ScriptedServer([(200, {"object": "error"})]) as server:
        with pytest.raises(LLMError, match=r"no choices\[0\].message.content"):
            backend_for(server).chat(JUDGE)
