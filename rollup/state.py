"""
The state directory: what rollup keeps between commands, whichever directory a command starts in.

``ROLLUP_HOME`` when set (a relative path is taken from the working directory), else the
platform's user state directory (``platformdirs``: ``$XDG_STATE_HOME/rollup``, by default
``~/.local/state/rollup`` on Linux). docs/runs.md lists what lives there::

    <state dir>/
      runs/                 the runs (rollup.engine.rundir); runs/.locks/ their local locks
      rehearsals/           the rehearsal records the production gate reads (rollup.rehearsal.record)
      rehearsal-lab/        the simulated lab of ``rollup rehearse --simulated``
      pins/                 the lock files of shipped manifests (rollup.model.catalog)

Built lab MSIs are a cache, not state: ``ROLLUP_CACHE_DIR``, else the user's cache directory
(``rollup.lab.fleet.msi_cache_dir``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HOME_ENV = "ROLLUP_HOME"
APP_NAME = "rollup"


def state_home(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The state directory, absolute: ``ROLLUP_HOME``, else the user state directory."""
    env = os.environ if environ is None else environ
    if env.get(HOME_ENV):
        chosen = Path(env[HOME_ENV]).expanduser()
        return chosen if chosen.is_absolute() else (Path.cwd() if cwd is None else cwd) / chosen
    import platformdirs

    return platformdirs.user_state_path(APP_NAME)
