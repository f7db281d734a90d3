"""Errors a user can cause and fix themselves, worded to be shown as they are."""

from os import PathLike
from pathlib import Path


class IngestError(ValueError):
    """A user-facing problem with an input file; str() is the message shown to the user.

    The message starts with the file's name (not its full path, which means little to someone who
    uploaded it) and, when one part of the file is at fault, the 1-based line, so the user can open
    the file and go straight to the problem.
    """

    def __init__(self, path: str | PathLike[str], problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path.name}: line {line}: " if line is not None else f"{self.path.name}: "
        super().__init__(where + problem)

    def __reduce__(self):
        # Exceptions are re-created from self.args when pickled (e.g. back from a worker process),
        # and args holds only the message; rebuild from the parts instead.
        return type(self), (self.path, self.problem, self.line)


class WorkspaceDamaged(ValueError):
    """The workspace file is not a DuckDB database, or only part of one (emptied, truncated, another program's file)."""


class WorkspaceBusy(RuntimeError):
    """Another process holds the workspace file: DuckDB lets one process write a database at a time."""
