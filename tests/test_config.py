"""Settings: names operators rely on, one line per problem, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_TRIGGERS, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BOT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_local_platform() -> None:
    s = load_settings()
    assert s.platform == "local" and s.sigma == 0.5 and s.user_limit_per_hour == 3
    assert s.triggers == DEFAULT_TRIGGERS and s.daily_post_time == "09:00"
    assert s.weights_dir.name == "weights" and s.seeds_file == s.weights_dir / "seeds.json"


def test_documented_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"BOT_PLATFORM": "mastodon", "BOT_MASTODON__BASE_URL": "https://m.example",
           "BOT_MASTODON__ACCESS_TOKEN": "tok-123", "BOT_SIGMA": "0.3",
           "BOT_TRIGGERS": '["draw me", "make art"]', "BOT_POLL_SECONDS": "30",
           "BOT_USER_LIMIT_PER_HOUR": "5", "BOT_BACKLOG_HOURS": "2",
           "BOT_DAILY_POST_TIME": "7:05", "BOT_TIMEZONE": "Asia/Tokyo",
           "BOT_DAILY_POST_ENABLED": "false", "BOT_LOCAL__INBOX": "/tmp/in",
           "BOT_STATE_PATH": "/var/lib/bot/s.db", "BOT_WEIGHTS_DIR": "/opt/w"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert s.mastodon.access_token.get_secret_value() == "tok-123"
    assert s.triggers == ["draw me", "make art"] and s.sigma == 0.3
    assert s.daily_post_time == "07:05" and s.timezone == "Asia/Tokyo"
    assert not s.daily_post_enabled and str(s.local.inbox) == "/tmp/in"
    assert "tok-123" not in s.summary() and "tok-123" not in repr(s)


def test_every_problem_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_SIGMA", "-1")
    monkeypatch.setenv("BOT_TRIGGERS", "create a human image")  # not JSON
    monkeypatch.setenv("BOT_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("BOT_DAILY_POST_TIME", "25:00")
    monkeypatch.setenv("BOT_PLATFORM", "myspace")
    with pytest.raises(SettingsError) as err:
        load_settings()
    problems = err.value.problems
    assert len(problems) == 5
    assert all("\n" not in p for p in problems)
    joined = "\n".join(problems)
    for name in ("BOT_SIGMA", "BOT_TRIGGERS", "BOT_TIMEZONE", "BOT_DAILY_POST_TIME",
                 "BOT_PLATFORM"):
        assert name in joined


def test_platform_credentials_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PLATFORM", "twitter")
    monkeypatch.setenv("BOT_TWITTER__CONSUMER_KEY", "ck")
    with pytest.raises(SettingsError, match="BOT_TWITTER__CONSUMER_SECRET"):
        load_settings()


def test_dotenv_and_secrets_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_PLATFORM=mastodon\n"
                                   "BOT_MASTODON__BASE_URL=https://m.example\n")
    secrets = tmp_path / "creds"
    secrets.mkdir()
    (secrets / "bot_mastodon").write_text('{"access_token": "from-secret-file"}')
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(secrets))
    s = load_settings()
    assert s.platform == "mastodon"
    assert s.mastodon.access_token.get_secret_value() == "from-secret-file"
    assert s.secrets() == ["from-secret-file"]
