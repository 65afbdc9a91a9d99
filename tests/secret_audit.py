"""A pytest plugin: no configured secret may reach any output of the whole suite.

Secrets are every value the suite configures: each pydantic SecretStr built (Settings read from
the environment, a .env file or a secrets directory, or constructed by a test) and every
BOT_*TOKEN / *SECRET / *KEY variable handed to a subprocess. Outputs are everything the suite's
code wrote: each test's captured stdout, stderr and log records (at DEBUG, so library request
logs count too), each failure's report, and the stdout and stderr of every subprocess read with
communicate() or subprocess.run, or handed to `record_output` by a test that streams them.
At the end of the session each output is searched for each secret; any hit fails the run
with the test and channel it was found in (the secret itself shown only by its first three
characters).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import types as pydantic_types

SECRET_ENV = re.compile(r"^BOT_\w*(TOKEN|SECRET|KEY)\w*$")
MIN_LENGTH = 6  # shorter values ("tok") are substrings of ordinary words: no signal


@dataclass
class Audit:
    secrets: set[str] = field(default_factory=set)
    outputs: dict[tuple[str, str], None] = field(default_factory=dict)  # (where, text), once

    def add_secret(self, value: object) -> None:
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            self.secrets.add(value)

    def add_output(self, where: str, text: object) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str) and text:
            self.outputs[(where, text)] = None  # a report repeats its earlier phases' sections

    def leaks(self) -> list[str]:
        found = []
        for where, text in self.outputs:
            for secret in self.secrets:
                if secret in text:
                    found.append(f"{where}: a configured secret ({secret[:3]}...) was written")
        return found


AUDIT = Audit()
current_test = "(collection)"


def record_output(where: str, text: str | bytes | None) -> None:
    """For tests that read a subprocess's output themselves, line by line."""
    AUDIT.add_output(f"{current_test} {where}", text)


def _install() -> None:
    secret_init = pydantic_types._SecretBase.__init__

    def init(self: Any, secret_value: Any) -> None:
        secret_init(self, secret_value)
        AUDIT.add_secret(secret_value)

    pydantic_types._SecretBase.__init__ = init  # type: ignore[method-assign]

    popen_init = subprocess.Popen.__init__

    def popen(self: subprocess.Popen, *args: Any, **kwargs: Any) -> None:
        for key, value in (kwargs.get("env") or {}).items():
            if SECRET_ENV.match(key):
                AUDIT.add_secret(value)
        popen_init(self, *args, **kwargs)

    subprocess.Popen.__init__ = popen  # type: ignore[method-assign]

    communicate = subprocess.Popen.communicate

    def communicate_and_record(self: subprocess.Popen, *args: Any, **kwargs: Any) -> Any:
        out, err = communicate(self, *args, **kwargs)
        name = self.args[:3] if isinstance(self.args, list) else self.args
        record_output(f"subprocess {name} stdout", out)
        record_output(f"subprocess {name} stderr", err)
        return out, err

    subprocess.Popen.communicate = communicate_and_record  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    _install()


def pytest_runtest_setup(item: pytest.Item) -> None:
    global current_test
    current_test = item.nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, text in report.sections:
        AUDIT.add_output(f"{report.nodeid} {name}", text)
    if report.failed:
        AUDIT.add_output(f"{report.nodeid} failure report", report.longreprtext)


WORKERS: list[dict[str, Any]] = []  # what each pytest-xdist worker's audit found


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: called on the controller
def pytest_testnodedown(node: Any, error: object) -> None:
    WORKERS.append(getattr(node, "workeroutput", {}).get("secret_audit",
                                                         {"secrets": 0, "outputs": 0,
                                                          "leaks": [f"{node}: no audit"]}))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = AUDIT.leaks()
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: the secrets are here, the verdict there
        worker_output["secret_audit"] = {"secrets": len(AUDIT.secrets),
                                         "outputs": len(AUDIT.outputs), "leaks": leaks}
        return
    secrets, outputs = len(AUDIT.secrets), len(AUDIT.outputs)
    for worker in WORKERS:
        secrets, outputs = secrets + worker["secrets"], outputs + worker["outputs"]
        leaks += worker["leaks"]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = (f"secret audit: {secrets} configured secrets searched for in "
            f"{outputs} outputs: {len(leaks)} leaks")
    if reporter is not None:
        reporter.write_line(line, red=bool(leaks), green=not leaks)
        for leak in leaks[:50]:
            reporter.write_line(f"  {leak}", red=True)
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
