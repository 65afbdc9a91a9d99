"""Settings: names operators rely on, one line per problem, secrets never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import SettingsError, load_settings, unknown_settings
from bot.settings import DEFAULT_TRIGGERS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_local_platform() -> None:
    s = load_settings()
    assert s.platform == "local" and s.sigma == 0.5 and s.user_limit_per_hour == 16
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


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.5:3000",
                                 "http://localhost.example.com", "http://127.0.0.1.nip.io",
                                 "http://[2001:db8::1]"])
def test_plain_http_is_refused_off_loopback(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BOT_PLATFORM", "mastodon")
    monkeypatch.setenv("BOT_MASTODON__ACCESS_TOKEN", "tok")
    monkeypatch.setenv("BOT_MASTODON__BASE_URL", url)
    with pytest.raises(SettingsError) as err:
        load_settings()
    [problem] = err.value.problems
    assert "BOT_MASTODON__BASE_URL" in problem and "https://" in problem
    assert "\n" not in problem


@pytest.mark.parametrize("url", ["http://127.0.0.1:3000", "http://127.8.9.10",
                                 "http://[::1]:8080", "http://localhost:3000",
                                 "http://LOCALHOST", "https://example.com"])
def test_plain_http_is_allowed_on_loopback(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BOT_PLATFORM", "mastodon")
    monkeypatch.setenv("BOT_MASTODON__ACCESS_TOKEN", "tok")
    monkeypatch.setenv("BOT_MASTODON__BASE_URL", url)
    assert load_settings().mastodon.base_url == url


def test_a_misspelt_name_is_warned_with_the_closest_known_one(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BOT_SIGAM", "0.3")
    monkeypatch.setenv("BOT_MASTODON__ACESS_TOKEN", "hunter2-value")
    monkeypatch.setenv("BOT_SIGMA", "0.25")  # known names, any case, are not warned about
    monkeypatch.setenv("bot_local__inbox", "/tmp/in")
    monkeypatch.setenv("BOT_TWITTER", '{"api_base": "https://api.x.com"}')  # a whole group
    (tmp_path / ".env").write_text("BOT_POLL_SECOND=5\nBOT_ZZZQQQ=qqq-value\n"
                                   "UPSCALE=2\nCOMPOSE_PROJECT_NAME=bot\n")
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        s = load_settings()
    assert s.sigma == 0.25 and s.poll_seconds == 60  # the misspelt ones changed nothing
    warned = [r.getMessage() for r in caplog.records if r.name == "bot.config"]
    assert warned == unknown_settings()
    assert len(warned) == 5 and all("\n" not in m for m in warned)
    by_name = {m.split()[0]: m for m in warned}
    assert "did you mean BOT_SIGMA?" in by_name["BOT_SIGAM"]
    assert "did you mean BOT_MASTODON__ACCESS_TOKEN?" in by_name["BOT_MASTODON__ACESS_TOKEN"]
    assert ".env" in by_name["BOT_POLL_SECOND"]
    assert "BOT_POLL_SECONDS" in by_name["BOT_POLL_SECOND"]
    assert "did you mean" not in by_name["BOT_ZZZQQQ"]
    assert "BOT_UPSCALE" in by_name["UPSCALE"]  # a setting's name without the prefix
    for value in ("0.3", "hunter2", "qqq-value", "=5", "=2"):  # values are never shown
        assert not any(value in m for m in warned), value


def test_known_names_are_not_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOT_PLATFORM", "BOT_MASTODON__MEDIA_PER_30MIN", "BOT_TWITTER__BEARER_TOKEN",
                 "BOT_LOCAL__STDIN", "BOT_DAILY_POST_TIME", "BOT_SEEDS_PATH", "BOT_MASTODON"):
        monkeypatch.setenv(name, "x")
    assert unknown_settings() == []


def test_a_seeds_path_that_does_not_exist_is_a_settings_problem(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOT_SEEDS_PATH", str(tmp_path / "typo" / "seeds.json"))
    with pytest.raises(SettingsError) as err:
        load_settings()
    [problem] = err.value.problems
    assert problem.startswith("BOT_SEEDS_PATH: ") and "typo" in problem and "\n" not in problem
    (tmp_path / "typo").mkdir()
    (tmp_path / "typo" / "seeds.json").write_text('{"version": 1, "z_dim": 8, "seeds": []}')
    assert load_settings().seeds_file == tmp_path / "typo" / "seeds.json"
    # the default path may be missing: the artist warns and samples from the prior
    monkeypatch.delenv("BOT_SEEDS_PATH")
    monkeypatch.setenv("BOT_WEIGHTS_DIR", str(tmp_path / "no-seeds-here"))
    assert load_settings().seeds_path is None


def test_command_phrases_are_configured_per_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.conversation.commands import parse

    monkeypatch.setenv("BOT_COMMANDS", '{"again": ["encore"]}')
    monkeypatch.setenv("BOT_LIKE_PHRASES", '["comme #{n}"]')
    s = load_settings()
    assert s.commands["again"] == ["encore"]
    assert s.commands["morph"][0] == "morph"  # the others keep their defaults
    ask = {"commands": s.commands, "like": s.like_phrases}
    assert parse("@bot encore !", s.triggers, reply_to_picture=True, **ask).command == "again"
    assert parse("@bot again", s.triggers, reply_to_picture=True, **ask) is None
    assert parse("@bot comme #4", s.triggers, **ask).seed_id == 4


@pytest.mark.parametrize(("name", "value", "words"), [
    ("BOT_COMMANDS", '{"agian": ["x"]}', "unknown command 'agian'"),
    ("BOT_COMMANDS", "again", "JSON object"),
    ("BOT_LIKE_PHRASES", '["like #"]', "must hold {n}"),
])
def test_bad_command_settings_are_one_line(monkeypatch: pytest.MonkeyPatch, name: str,
                                           value: str, words: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    [problem] = err.value.problems
    assert name in problem and words in problem and "\n" not in problem
