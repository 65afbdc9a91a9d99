"""The suite-wide secret audit (tests/secret_audit.py) catches a leak, in-process or not."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

INNER = '''
import logging, os, subprocess, sys
from pydantic import SecretStr

def test_a_log_record_with_a_configured_token():
    token = SecretStr("sk-live-123456")
    logging.getLogger("bot.service").debug("posting with %s", token.get_secret_value())

def test_a_subprocess_that_prints_its_token():
    env = {**os.environ, "BOT_TWITTER__ACCESS_TOKEN_SECRET": "ats-999999"}
    subprocess.run([sys.executable, "-c", "import os; print(os.environ['BOT_TWITTER__ACCESS_"
                    "TOKEN_SECRET'])"], env=env, capture_output=True, check=True)

def test_a_secret_kept_to_itself():
    SecretStr("quiet-777777")
    logging.getLogger("bot").warning("token set")
'''


# `make test` runs the suite in pytest-xdist workers: each worker audits what it configured
# and wrote, and the controller's verdict gathers theirs.
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_leaks_fail_the_run_and_name_where(pytester: pytest.Pytester,
                                           monkeypatch: pytest.MonkeyPatch,
                                           workers: list[str]) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "tests.secret_audit", "-o", "log_level=DEBUG",
                                           "-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=3)  # every test passed, and still the run fails:
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "secret audit: 3 configured secrets" in out and "2 leaks" in out
    assert "test_a_log_record_with_a_configured_token Captured log call: a configured " \
           "secret (sk-...)" in out
    assert "subprocess" in out and "(ats...)" in out
    assert "quiet-777777" not in out and "sk-live-123456" not in out  # named, never shown


def test_a_clean_run_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(test_inner=INNER.split("def test_a_log_record")[0] + '''
def test_a_secret_kept_to_itself():
    SecretStr("quiet-777777")
    logging.getLogger("bot").warning("token set")
''')
    result = pytester.runpytest_subprocess("-p", "tests.secret_audit", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert "secret audit: 1 configured secrets searched for" in result.stdout.str()
    assert "0 leaks" in result.stdout.str()
