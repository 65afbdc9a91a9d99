"""The bot against mastodon-mock where a real server's policies get in the way.

Since Mastodon 4.3 an account filters private mentions by default (notification policy
`for_private_mentions: filter`), and GET /api/v1/notifications leaves filtered notifications
out unless asked with include_filtered=true: the bot follows nobody, so every stranger's direct
request would be silently lost. A token without some scope gets Mastodon's 403 "This action is
outside the authorized scopes": optional for the bot flag (write:accounts), fatal for posting
(write:statuses, write:media). Each test resets the server and sets the 4.3 defaults on the
bot's account first; scope refusals are the real server's answer, served by the mock's fault
control plane (its own scope check knows only read and write, not write:accounts).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests

pytest.importorskip("mastodon_mock")
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.service import Clock, Fatal, Service
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import (
    TINY,
    FakeClock,
    client,
    fault,
    mastodon_service,
    replies_to,
)

SEED = SeedConfig(accounts=[
    SeedAccount(username="bot", access_token="bot_token"),
    SeedAccount(username="alice", access_token="alice_token"),  # a stranger: nobody follows
    SeedAccount(username="bob", access_token="bob_token"),
])
SCOPE_403 = {"error": "This action is outside the authorized scopes"}


def clear_faults(srv) -> None:
    requests.delete(srv.base_url + "/api/v1/_mock/faults", timeout=10).raise_for_status()


@pytest.fixture
def make(srv, tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [
        Seed(7, [0.3] * TINY.z_dim, "kept")]))

    def build(clock: Clock | None = None) -> Service:
        return mastodon_service(srv, tiny_weights, tmp_path / "state.db", clock)

    return build


@pytest.mark.parametrize("visibility", ["direct", "private"])
def test_a_strangers_private_request_is_answered_despite_the_filter(
        srv, make, visibility: str) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image",
                                               visibility=visibility)
    # the policy is on: a plain fetch of the notifications does not show the request
    assert client(srv, "bot").notifications(types=["mention"]) == []
    service = make()
    service.cycle()
    [reply] = replies_to(srv, mention["id"])
    assert reply["visibility"] == visibility  # as private as the request
    assert reply["in_reply_to_id"] == mention["id"] and "@alice" in reply["content"]
    assert service.state.counts("mastodon") == {"replied": 1}


def test_a_token_that_may_not_flag_the_account_warns_and_answers(
        srv, make, caplog: pytest.LogCaptureFixture) -> None:
    fault(srv, match={"methods": ["PATCH"], "path": "/api/v1/accounts/update_credentials"},
          effect={"type": "status", "status": 403, "body": SCOPE_403})
    mention = client(srv, "alice").status_post("@bot create a human image")
    with caplog.at_level(logging.WARNING, logger="bot.platforms.mastodon"):
        service = make()  # not a fatal start
    assert any("write:accounts" in r.getMessage() and "by hand" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    assert not client(srv, "bot").account_verify_credentials()["bot"]
    service.cycle()
    assert len(replies_to(srv, mention["id"])) == 1


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("POST", "/api/v1/statuses", "write:statuses"),
    ("POST", "/api/v2/media", "write:media"),
])
def test_a_token_that_may_not_post_stops_the_bot_and_fails_no_mention(
        srv, make, method: str, path: str, scope: str) -> None:
    first = client(srv, "alice").status_post("@bot create a human image")
    second = client(srv, "bob").status_post("@bot create a human image")
    fault(srv, match={"methods": [method], "path": path},
          effect={"type": "status", "status": 403, "body": SCOPE_403})
    clock = FakeClock()
    service = make(clock)
    with pytest.raises(Fatal, match=f"lacks the {scope} scope"):
        service.cycle()
    assert "failed" not in service.state.counts("mastodon")  # nothing settled as failed
    assert replies_to(srv, first["id"]) == replies_to(srv, second["id"]) == []
    service.state.close()

    clear_faults(srv)  # the operator makes a token with the missing scope and restarts
    clock.offset += 3600
    make(clock).cycle()
    assert len(replies_to(srv, first["id"])) == len(replies_to(srv, second["id"])) == 1
