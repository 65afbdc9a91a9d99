"""Exit statuses (sysexits.h) and the problems that end a command with one of them.
"""

from __future__ import annotations

# sysexits.h. Only 78 keeps systemd from restarting (RestartPreventExitStatus): it is given
# for configuration found bad before the loop starts, never for an error while running.
EXIT_UNEXPECTED = 1  # a bug or an answer nobody foresaw: logged with its traceback; restart


EXIT_USAGE = 64  # EX_USAGE: the command line is wrong (an unknown seed id, a bad --out)


EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: once/post/check could not reach the server


EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: try again later (the state file is locked, held by another


# running bot, or the disk full; post: rate limited, or today's post begun earlier and in doubt)
EXIT_CONFIG = 78  # EX_CONFIG: settings, credentials, weights or seeds are bad


class ConfigProblem(Exception):
    """Found bad before the loop starts: weights, seeds, the state file, the local platform's
    folders, the metrics port."""


class UsageProblem(Exception):
    """The command line asks for something that cannot be: exit 64."""


class TryLater(Exception):
    """Nothing is wrong with the settings, but the work cannot be done now (a full disk, the
    platform failing): exit 75, and the next run goes on where this one stopped."""
