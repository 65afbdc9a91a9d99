"""The suite reads none of the operator's settings: a shell with BOT_* set runs it as a bare one.

test_wishes.py and test_decide.py read their settings at import, while pytest collects them,
before any fixture runs; tests/conftest.py clears the operator's variables as it is loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.settings import REPO


def test_an_operators_shell_changes_no_test(tmp_path: Path) -> None:
    secrets = tmp_path / "credentials"  # systemd's LoadCredential= folder, with a platform
    secrets.mkdir()
    (secrets / "bot_platform").write_text("twitter")
    shell = {**os.environ, "BOT_PLATFORM": "mastodon", "BOT_TRIGGERS": '["zzz"]',
             "BOT_USER_LIMIT_PER_HOUR": "1", "CREDENTIALS_DIRECTORY": str(secrets)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_wishes.py", "tests/test_decide.py"],
        cwd=REPO, env=shell, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "error" not in run.stdout.splitlines()[-1]
