"""Where the settings come from (the environment, a .env file, a secrets directory) and what is
wrong with them; what they are is bot.settings.

Every name has the prefix BOT_, nested groups use a double underscore
(BOT_MASTODON__ACCESS_TOKEN). Tokens are SecretStr: they print as '**********' and are
revealed only where a client is built. A bad value stops the start with one line per problem.
"""

from __future__ import annotations

import difflib
import io
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ValidationError

from bot.settings import (
    PREFIX,
    Settings,
    secrets_dir,
)

log = logging.getLogger("bot.config")


# What SIGHUP may change in a running bot: what is read afresh for each mention, each poll or
# each picture (the artist is rebuilt with them). The rest is built into the running parts
# (the platform's client and credentials, the state file and its lock, the metrics port, the
# log handlers) and takes a restart.
RELOADABLE = frozenset({
    "weights_dir", "seeds_path", "sigma", "preserve_norm", "best_of", "upscale", "resample",
    "device", "triggers", "commands", "like_phrases", "variation_sigma", "poll_seconds",
    "user_limit_per_hour", "backlog_hours", "max_attempts", "daily_post_enabled",
    "daily_post_time", "timezone"})


def reread(current: Settings) -> Settings:
    """SIGHUP: the settings read again (environment, .env, secrets directory). Those in
    RELOADABLE take their new values (`changes` says which); a change to any other is logged
    as a warning and waits for a restart. SettingsError (nothing changes) when they are bad."""
    # A process's environment cannot change from outside: say so, or an edited bot.env
    # (systemd's EnvironmentFile=) would seem to be ignored for no reason.
    log.info("reading the settings again from %s and the secrets directory; the environment "
             "(systemd's EnvironmentFile=, compose's env_file) is read only at start",
             env_file_path().absolute())
    fresh = load_settings()
    changed = [n for n in Settings.model_fields if getattr(fresh, n) != getattr(current, n)]
    for name in changed:  # names only: a group such as mastodon holds a token
        if name not in RELOADABLE:
            log.warning("%s%s changed, but takes a restart (systemctl restart "
                        "human-image-bot); the running bot keeps its old value", PREFIX,
                        name.upper())
    return current.model_copy(update={n: getattr(fresh, n) for n in changed if n in RELOADABLE})


def changes(old: Settings, new: Settings) -> list[str]:
    """One line per setting that differs, with both values (reloadable settings hold no
    secret): what a reload changed."""
    return [f"{PREFIX}{n.upper()}: {getattr(old, n)} -> {getattr(new, n)}"
            for n in Settings.model_fields if getattr(old, n) != getattr(new, n)]


class SettingsError(Exception):
    """Bad settings: one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _env_name(loc: tuple[object, ...]) -> str:
    return "BOT_" + "__".join(str(p).upper() for p in loc if not isinstance(p, int))


def known_names() -> list[str]:
    """Every setting's name without the prefix: SIGMA, MASTODON (a whole group, as JSON),
    MASTODON__ACCESS_TOKEN, ..."""
    names = []
    for name, info in Settings.model_fields.items():
        names.append(name.upper())
        group = info.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            names += [f"{name}__{sub}".upper() for sub in group.model_fields]
    return names


def unknown_settings(environ: Mapping[str, str] | None = None,
                     env_file: Path | None = None) -> list[str]:
    """One warning per BOT_* variable or .env key that no setting reads (a typo, most likely),
    with the closest known name. Names only: a value might be a secret."""
    environ = os.environ if environ is None else environ
    env_file = Path(str(Settings.model_config.get("env_file") or ".env")
                    ) if env_file is None else env_file
    known = known_names()
    messages = [_unknown(key, "in the environment", known) for key in sorted(environ)
                if key.upper().startswith(PREFIX) and key.upper()[len(PREFIX):] not in known]
    for key in _dotenv_keys(env_file):
        name = key.upper()
        if name.startswith(PREFIX) and name[len(PREFIX):] not in known:
            messages.append(_unknown(key, f"in {env_file}", known))
        elif name in known:  # written without the prefix
            messages.append(f"{key} in {env_file} is ignored: settings need the prefix, "
                            f"{PREFIX}{name}")
    return messages


def _unknown(key: str, where: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key.upper()[len(PREFIX):], known, n=1)
    hint = (f"did you mean {PREFIX}{close[0]}?" if close else
            "the settings are listed in docs/CONFIGURATION.md")
    return f"{key} {where} is not a setting and is ignored; {hint}"


def _dotenv_keys(path: Path) -> list[str]:
    if not path.is_file():
        return []
    from dotenv import dotenv_values  # pydantic-settings' own .env reader

    try:
        return list(dotenv_values(path))
    except (OSError, UnicodeDecodeError):
        return []  # pydantic-settings reports an unreadable .env itself


def env_file_path() -> Path:
    """The .env file pydantic-settings reads: relative to the working directory."""
    return Path(str(Settings.model_config.get("env_file") or ".env"))


def env_file_problems(path: Path) -> list[str]:
    """One line per line of a .env file that cannot be read as NAME=value, or one for a file
    that is not UTF-8 text. pydantic-settings would skip such a line with a warning and run
    without its value (or stop with a traceback). The line's text is never shown: it may hold
    a token."""
    if not path.is_file():
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [f"{path} cannot be read ({exc.strerror or exc}); make it readable by the bot's "
                "user, or remove it"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return [f"{path} line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); save the "
                "file as UTF-8"]
    from dotenv.parser import parse_stream  # pydantic-settings' own .env reader

    problems = []
    for binding in parse_stream(io.StringIO(text)):
        where = f"{path} line {binding.original.line}"
        if binding.error:
            name = re.match(r"\s*(?:export\s+)?([A-Za-z_]\w*)\s*=", binding.original.string)
            what = f" ({name.group(1)})" if name else ""
            problems.append(f"{where}{what} cannot be read as NAME=value: put a value with "
                            "spaces, quotes or # in single quotes, NAME='...' (an unclosed "
                            "quote runs on to the next one); fix or remove the line")
        elif binding.key and _cut_json(binding.original.string):
            problems.append(f"{where} ({binding.key}): an unquoted JSON value is cut at ' #' "
                            "(the rest reads as a comment); put the value in single quotes, "
                            f"{binding.key}='...'")
    return problems


def _cut_json(line: str) -> bool:
    """An unquoted JSON list or object with ' #' in it ("like #{n}"): python-dotenv (which
    reads .env for the bot) and docker compose take ' #' there for the start of a comment."""
    raw = line.partition("=")[2].strip()
    return raw[:1] in ("[", "{") and " #" in raw


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a SettingsError lists every problem, one line each. A .env file with
    a line that cannot be read is refused: the bot would run without that value. Names that
    no setting reads are logged as warnings first: a typo may be why a setting is missing."""
    problems = env_file_problems(env_file_path())
    if problems:
        raise SettingsError(problems)
    for message in unknown_settings():
        log.warning("%s", message)
    try:
        return Settings(_secrets_dir=secrets_dir(), **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            where = _env_name(err["loc"]) if err["loc"] else "settings"
            problems.append(f"{where}: {msg}" if err["loc"] else msg)
        raise SettingsError(problems) from None

