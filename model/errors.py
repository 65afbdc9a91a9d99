"""One exception for problems a user can fix, and the CLI wrapper that prints it as one line."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input or environment. The message is one line: what is wrong and how to fix it."""


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> None:
    """Run a CLI entry point; a UserError becomes ``error: ...`` on stderr and exit status 2."""
    try:
        code = main(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code or 0)
