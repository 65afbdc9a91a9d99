"""python -m bot run, once, post and check, given a built service.
"""

from __future__ import annotations

import logging
import signal
import sys

from bot.cli.exits import EXIT_TEMPFAIL, EXIT_UNAVAILABLE, EXIT_UNEXPECTED, TryLater
from bot.platforms.errors import RateLimited, Transient
from bot.service import Service

log = logging.getLogger("bot")

def run_command(command: str, service: Service) -> int:
    if command == "check":
        me = service.start()
        print(f"ok: {service.name} as @{me.handle}; weights, seeds and state usable")
    elif command == "once":
        service.start()
        service.cycle()
        if service.failing:  # what is pending stays so, for the next run (cron's next turn)
            raise TryLater(f"{service.failing}; the mentions stay pending: run again later")
    elif command == "post":
        service.start()
        return post_today(service)
    else:
        _install_signals(service)
        service.run()
    return 0


def post_today(service: Service) -> int:
    """python -m bot post: today's daily post now. Says what became of it; non-zero when
    today has no post (or may have none)."""
    posted = service.daily_post()
    if posted is not None:
        print(f"posted {posted}")
        return 0
    day, failure = service.today(), service.daily_failure
    if failure is not None:
        print(f"error: {failure.message}", file=sys.stderr)
        if isinstance(failure.error, Transient):
            return EXIT_UNAVAILABLE
        return EXIT_TEMPFAIL if isinstance(failure.error, RateLimited) else EXIT_UNEXPECTED
    claim = service.state.daily(service.name, day)
    if claim is not None and claim["status"] == "posted":
        print(f"today's post ({day}) was made already: {claim['post_id']}")
        return 0
    print(f"error: today's post ({day}) was begun earlier and may have gone out (an attempt "
          "that failed after sending, or one in progress in the running bot); look at the "
          "account: it is not posted twice", file=sys.stderr)
    return EXIT_TEMPFAIL


def _install_signals(service: Service) -> None:
    def stop(signum: int, frame: object) -> None:
        log.info("%s: finishing the reply in flight, then stopping",
                 signal.Signals(signum).name)
        service.request_stop()

    def reload(signum: int, frame: object) -> None:
        log.info("SIGHUP: reloading the settings, weights and seeds before the next mention")
        service.request_reload()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
