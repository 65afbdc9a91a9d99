"""What the settings are: typed, validated, with their defaults (pydantic-settings, prefix BOT_,
nested with __). Where they come from and what is wrong with them: bot.config.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.conversation.commands import DEFAULT_COMMANDS, DEFAULT_LIKE, REPLY_COMMANDS

REPO = Path(__file__).resolve().parent.parent


PREFIX = "BOT_"


DEFAULT_TRIGGERS = ["create a human image", "human image please", "人間の画像を作って"]


Visibility = Literal["public", "unlisted", "private", "direct"]


# X's OAuth 1.0a user context (the four the bot needs), then the optional app-only token
TWITTER_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret",
                "bearer_token")


class MastodonSettings(BaseModel):
    base_url: str = ""  # https://mastodon.example
    access_token: SecretStr = SecretStr("")
    visibility: Visibility = "unlisted"  # replies are never more public than this or the mention
    flag_bot: bool = True  # mark the account as a bot at start (Mastodon etiquette)
    media_per_30min: int = Field(30, ge=1)  # Mastodon's media upload limit
    request_timeout: float = Field(30.0, gt=0)


class TwitterSettings(BaseModel):
    consumer_key: SecretStr = SecretStr("")
    consumer_secret: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    access_token_secret: SecretStr = SecretStr("")
    bearer_token: SecretStr = SecretStr("")
    api_base: str = "https://api.x.com"  # every X call goes here (tweepy's and the upload)
    # A bot that reads mentions needs pay-per-use or Basic (or higher) access: the free tier is
    # write-only. Basic's documented POST /2/tweets limit is 100 per 24 h per user (1,667 per
    # app); replies, notes and the daily post all count. Lower it for a smaller budget.
    posts_per_day: int = Field(100, ge=1)
    request_timeout: float = Field(30.0, gt=0)  # seconds to connect, and between bytes read


class LocalSettings(BaseModel):
    inbox: Path = Path("local/inbox")  # drop .txt files here: "@alice create a human image"
    outbox: Path = Path("local/outbox")  # replies land here as PNG + JSON
    stdin: bool = True  # also read mentions from standard input; exit when it ends


def secrets_dir() -> str | None:
    """systemd's LoadCredential= directory, else Docker's /run/secrets, when present."""
    for candidate in (os.environ.get("CREDENTIALS_DIRECTORY"), "/run/secrets"):
        if candidate and Path(candidate).is_dir():
            return candidate
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BOT_", env_nested_delimiter="__", env_file=".env", extra="ignore",
        validate_default=True,
    )

    platform: Literal["local", "mastodon", "twitter"] = "local"
    mastodon: MastodonSettings = MastodonSettings()
    twitter: TwitterSettings = TwitterSettings()
    local: LocalSettings = LocalSettings()

    state_path: Path = Path("state/bot.sqlite3")
    weights_dir: Path = REPO / "weights"
    seeds_path: Path | None = None  # default: WEIGHTS_DIR/seeds.json
    sigma: float = Field(0.5, ge=0, le=3)
    preserve_norm: bool = False  # sqrt(1 - sigma^2) z + sigma e instead of z + sigma e
    best_of: int = Field(8, ge=1, le=64)  # candidates per picture; the discriminator picks
    upscale: int | None = Field(None, ge=1, le=16)  # default: to 256 px for viewing
    resample: Literal["lanczos", "nearest"] = "lanczos"
    device: str = "auto"

    triggers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGERS), min_length=1)
    # the reply commands (again, variations, morph, delete, help) and their phrases
    commands: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_COMMANDS.items()})
    like_phrases: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_LIKE))  # {n}: the seed number
    # noise of "more like this": 0.6 makes four pictures as far apart as four new replies
    # (README, python -m bot.variety)
    variation_sigma: float = Field(0.6, ge=0, le=3)
    poll_seconds: float = Field(60.0, ge=1)
    # pictures, four for "more like this": the README's conversation twice (6 + 6) and the
    # "more like this 2" its variations reply suggests (4) fit
    user_limit_per_hour: int = Field(16, ge=0)
    # the first start's backlog; also how long a failing mention is retried (at least 1 h)
    backlog_hours: float = Field(24.0, ge=0)
    max_attempts: int = Field(5, ge=1)  # an error nobody foresaw; transient ones: the window

    metrics_port: int | None = Field(None, ge=1, le=65535)  # /healthz and /metrics on loopback
    log_format: Literal["text", "json"] = "text"

    daily_post_enabled: bool = True
    daily_post_time: str = "09:00"
    timezone: str = "UTC"

    @field_validator("triggers", "like_phrases", mode="before")
    @classmethod
    def _triggers_json(cls, v: object) -> object:
        if isinstance(v, str):  # from the environment: decoded here, so errors get one line
            try:
                return json.loads(v)
            except json.JSONDecodeError:
                raise ValueError('must be a JSON list of phrases, like ["create a human image"]'
                                 ) from None
        return v

    @field_validator("commands", mode="before")
    @classmethod
    def _commands_json(cls, v: object) -> object:
        if isinstance(v, str):
            try:
                return json.loads(v)
            except json.JSONDecodeError:
                raise ValueError('must be a JSON object of phrase lists, like {"again": '
                                 '["again", "one more"]}') from None
        return v

    @field_validator("commands")
    @classmethod
    def _known_commands(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(v) - set(REPLY_COMMANDS))
        if unknown:
            raise ValueError(f"unknown command {unknown[0]!r}; the commands are "
                             f"{', '.join(REPLY_COMMANDS)}")
        if any(not p.strip() for phrases in v.values() for p in phrases):
            raise ValueError("command phrases must not be blank")
        # a command left out keeps its default phrases
        return {**{k: list(p) for k, p in DEFAULT_COMMANDS.items()}, **v}

    @field_validator("like_phrases")
    @classmethod
    def _like_has_number(cls, v: list[str]) -> list[str]:
        for phrase in v:
            if phrase.count("{n}") != 1:
                raise ValueError(f"{phrase!r} must hold {{n}} once, where the seed number goes, "
                                 "like \"like #{n}\"")
        return v

    @field_validator("triggers")
    @classmethod
    def _triggers_not_blank(cls, v: list[str]) -> list[str]:
        if any(not t.strip() for t in v):
            raise ValueError("trigger phrases must not be blank")
        return v

    @field_validator("daily_post_time")
    @classmethod
    def _hh_mm(cls, v: str) -> str:
        if not re.fullmatch(r"\d{1,2}:\d{2}", v.strip()):
            raise ValueError(f"must be HH:MM (24-hour), got {v!r}")
        hour, minute = (int(x) for x in v.strip().split(":"))
        if hour > 23 or minute > 59:
            raise ValueError(f"must be a time of day between 00:00 and 23:59, got {v!r}")
        return f"{hour:02d}:{minute:02d}"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name like Europe/Berlin"
                             ) from None
        return v

    @field_validator("seeds_path", mode="before")
    @classmethod
    def _empty_is_default(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("seeds_path")
    @classmethod
    def _seeds_exist(cls, v: Path | None) -> Path | None:
        # Set on purpose, so a missing file is a typo, not "no seeds yet": refuse rather than
        # serve from the plain prior. The default WEIGHTS_DIR/seeds.json may be missing.
        if v is not None and not v.is_file():
            raise ValueError(f"no seeds file at {v}; fix the path, or unset it to use "
                             "WEIGHTS_DIR/seeds.json")
        return v

    def credentials_set(self) -> dict[str, list[str]]:
        """The remote platforms whose settings are given, with the names given (no values)."""
        given = {"mastodon": [f"BOT_MASTODON__{n.upper()}" for n in ("base_url", "access_token")
                              if _given(getattr(self.mastodon, n))],
                 "twitter": [f"BOT_TWITTER__{n.upper()}" for n in TWITTER_KEYS
                             if _given(getattr(self.twitter, n))]}
        return {platform: names for platform, names in given.items() if names}

    @model_validator(mode="after")
    def _credentials_for_another_platform(self) -> Settings:
        # BOT_PLATFROM=mastodon (a typo) left the default, local: a bot that says ok and
        # answers nobody. Credentials given for a platform that is not the chosen one, while
        # the chosen one has none of its own, are such a mistake: stop and name both.
        given = self.credentials_set()
        others = {p: names for p, names in given.items() if p != self.platform}
        if others and self.platform not in given:
            platform, names = next(iter(others.items()))
            chosen = ("the platform is local, the default (BOT_PLATFORM unset or misspelt?)"
                      if self.platform == "local" else
                      f"BOT_PLATFORM is {self.platform}, whose credentials are not set")
            raise ValueError(f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'} set "
                             f"for {platform} but {chosen}; set BOT_PLATFORM={platform}, or "
                             f"remove the {platform} settings")
        return self

    @model_validator(mode="after")
    def _credentials_for_platform(self) -> Settings:
        missing = []
        if self.platform == "mastodon":
            if not self.mastodon.base_url:
                missing.append("BOT_MASTODON__BASE_URL")
            if not self.mastodon.access_token.get_secret_value():
                missing.append("BOT_MASTODON__ACCESS_TOKEN")
        elif self.platform == "twitter":
            for name in TWITTER_KEYS[:4]:
                if not getattr(self.twitter, name).get_secret_value():
                    missing.append(f"BOT_TWITTER__{name.upper()}")
        if missing:
            raise ValueError(f"platform {self.platform} needs {', '.join(missing)}")
        if self.platform == "mastodon" and not re.match(r"https?://", self.mastodon.base_url):
            raise ValueError("BOT_MASTODON__BASE_URL must start with https:// (or http:// "
                             "for a server on loopback)")
        if self.platform == "mastodon" and self.mastodon.base_url.startswith("http://"):
            host = _host(self.mastodon.base_url)
            if not _is_loopback(host):
                # the access token would cross the network in clear text
                raise ValueError(f"BOT_MASTODON__BASE_URL: plain http:// is only for a server "
                                 f"on loopback (127.0.0.1, ::1, localhost), not {host or '?'}; "
                                 f"use https://{host or 'your.server'}")
        return self

    @property
    def daily_time(self) -> dtime:
        hour, minute = (int(x) for x in self.daily_post_time.split(":"))
        return dtime(hour, minute)

    @property
    def seeds_file(self) -> Path:
        return self.seeds_path or self.weights_dir / "seeds.json"

    def secrets(self) -> list[str]:
        """Every configured secret value, for scrubbing logs."""
        values = [self.mastodon.access_token]
        values += [getattr(self.twitter, n) for n in ("consumer_key", "consumer_secret",
                                                      "access_token", "access_token_secret",
                                                      "bearer_token")]
        return [v.get_secret_value() for v in values if v.get_secret_value()]

    def summary(self) -> str:
        """The settings in a few lines, secrets shown only as set or missing."""
        lines = [f"platform {self.platform}"]
        if self.platform == "mastodon":
            lines.append(f"mastodon {self.mastodon.base_url} token "
                         f"{_set(self.mastodon.access_token)} replies at most "
                         f"{self.mastodon.visibility}")
        elif self.platform == "twitter":
            keys = ", ".join(f"{n} {_set(getattr(self.twitter, n))}" for n in
                             ("consumer_key", "consumer_secret", "access_token",
                              "access_token_secret", "bearer_token"))
            lines.append(f"x {self.twitter.api_base} ({keys})")
        else:
            lines.append(f"local inbox {self.local.inbox} outbox {self.local.outbox}"
                         f"{' and stdin' if self.local.stdin else ''}")
        lines.append(f"state {self.state_path.absolute()}; weights {self.weights_dir}; seeds "
                     f"{self.seeds_file}; sigma {self.sigma}")
        lines.append(f"triggers {self.triggers}; poll every {self.poll_seconds:g}s; "
                     f"{self.user_limit_per_hour} images per user per hour; backlog "
                     f"{self.backlog_hours:g}h")
        daily = (f"daily post at {self.daily_post_time} {self.timezone}"
                 if self.daily_post_enabled else "daily post off")
        metrics = (f"metrics and health on 127.0.0.1:{self.metrics_port}"
                   if self.metrics_port else "metrics off")
        lines.append(f"{daily}; {metrics}; logs as {self.log_format}")
        return "\n".join(lines)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # a broken [IPv6] literal
        return ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":  # urlsplit lower-cases it
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:
        return False


def _given(value: SecretStr | str) -> bool:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return bool(text.strip())


def _set(secret: SecretStr) -> str:
    return "set" if secret.get_secret_value() else "missing"
