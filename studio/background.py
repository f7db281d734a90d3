"""Work the studio does on a thread of its own server while pages keep drawing: preparing a large export.

Runs (and teaching, judging, tuning) go to a worker process, where a native crash cannot take the studio down.
What runs here is plain Python over data already read (masking personal data in a million texts), whose result
is a table the page shows and downloads: a process would have to send it back. A page keeps one `Background`
per input in `st.cache_resource`, so every rerun and every tab sees the same one.
"""

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """`work(on_progress)` on a daemon thread; `on_progress(done, total)` is what the page shows meanwhile."""

    def __init__(self, work: Callable[[Callable[[int, int], None]], T]) -> None:
        self.done = 0
        self.total = 0
        self.result: T | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name="studio-background", daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[Callable[[int, int], None]], T]) -> None:
        try:
            self.result = work(self._progress)
        except BaseException as error:  # shown on the page that asked for it
            self.error = error

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def finished(self, wait: float = 0.0) -> bool:
        """Whether the work has ended (with a result or an error), after waiting up to `wait` seconds for it."""
        self._thread.join(wait)
        return not self._thread.is_alive()

    def outcome(self) -> Any:
        """The result; the work's error raised here, in the page's thread, where the page shows it."""
        if self.error is not None:
            raise self.error
        return self.result
