"""Where a workspace lives when the user does not say: the per-user data folder."""

import os
from pathlib import Path

from dialin_core.data.store import Store
from dialin_core.data.studio_lock import refuse_if_a_studio_holds

WORKSPACE_ENV = "DIALIN_WORKSPACE"


def default_workspace_path() -> Path:
    """$DIALIN_WORKSPACE, else $XDG_DATA_HOME/dialin-studio/workspace.duckdb (~/.local/share by default)."""
    if os.environ.get(WORKSPACE_ENV):
        return Path(os.environ[WORKSPACE_ENV]).expanduser()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "dialin-studio" / "workspace.duckdb"


def open_workspace(path: Path | None) -> Store:
    """The workspace at `path`, or at the default place when the user gave none; refused while a studio in
    another process has it (dialin_core.data.studio_lock)."""
    path = path or default_workspace_path()
    refuse_if_a_studio_holds(path)
    return Store(path)
