"""Talking to a server that speaks the OpenAI API (vLLM, TEI, llama.cpp server, Ollama, hosted APIs): where it
is, and one POST with retries. The LLM back end (chat completions) and the served embedder (embeddings) both
post through here, so a timeout, a 429 or a 5xx is handled the same way for both.

Transient failures (timeouts, refused connections, 408/409/429/5xx) are retried with exponential backoff;
any other HTTP error is reported at once with the server's words. Standard library only.
"""

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
SEND_PII_VARIABLE = "DIALIN_OPENAI_SEND_PII"


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str  # e.g. http://localhost:8000/v1
    model: str
    api_key: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 4
    backoff_seconds: float = 1.0
    max_concurrency: int = 4  # requests in flight at once, so a shared server is not flooded
    # Personal data is masked before it leaves the machine (dialin_core.data.pii), unless DIALIN_OPENAI_SEND_PII=1
    # says the server may see it (a server of one's own, say); the run's summary records it.
    mask_pii: bool = True

    @classmethod
    def from_env(cls, model: str | None = None, base_url: str | None = None, url_variable: str | None = None) -> "OpenAISettings":
        """DIALIN_OPENAI_BASE_URL / OPENAI_BASE_URL (after `url_variable`, when given), DIALIN_OPENAI_MODEL and
        OPENAI_API_KEY, unless given."""
        variables = [v for v in (url_variable, "DIALIN_OPENAI_BASE_URL", "OPENAI_BASE_URL") if v]
        url = base_url or next((os.environ[v] for v in variables if os.environ.get(v)), None)
        name = model or os.environ.get("DIALIN_OPENAI_MODEL")
        if not url or not name:
            raise ValueError(
                f"the openai back end needs a base URL and a model: pass them, or set {' or '.join(variables)} "
                "and DIALIN_OPENAI_MODEL"
            )
        return cls(base_url=url.rstrip("/"), model=name, api_key=os.environ.get("OPENAI_API_KEY"),
                   mask_pii=os.environ.get(SEND_PII_VARIABLE, "") not in ("1", "true", "yes"))


def post_json(settings: OpenAISettings, path: str, body: dict[str, Any], failure: type[Exception]) -> dict[str, Any]:
    """POST `body` to `base_url + path` and return the JSON reply; `failure(message)` once the retries are spent
    or at once for an error retrying cannot mend."""
    url = f"{settings.base_url}{path}"
    headers = {"Content-Type": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    data = json.dumps(body).encode("utf-8")
    last_problem = ""
    for attempt in range(settings.max_retries + 1):
        if attempt:
            time.sleep(settings.backoff_seconds * 2 ** (attempt - 1))
        try:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as reply:
                return json.loads(reply.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            last_problem = f"HTTP {error.code}: {detail}"
            if error.code not in RETRYABLE_STATUS:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            last_problem = str(getattr(error, "reason", error))
        except json.JSONDecodeError:
            last_problem = "the reply is not JSON"
            break
    raise failure(f"{url} did not answer: {last_problem}")
