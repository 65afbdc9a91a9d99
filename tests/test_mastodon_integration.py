"""The bot against mastodon-mock: a real Mastodon API server on loopback (FastAPI + uvicorn).

Each test resets the server, lets alice (and friends) mention the bot through the real API,
then runs the service's poll cycle against it and reads the result back through the API.
Faults are injected with the mock's control plane (/api/v1/_mock/faults).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from mastodon import Mastodon

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

USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
SEED = SeedConfig(accounts=[
    SeedAccount(username="bot", access_token="bot_token"),
    *[SeedAccount(username=u, access_token=f"{u}_token") for u in USERS],
    SeedAccount(username="shy", note="<p>please no bots #<span>nobot</span></p>",
                access_token="shy_token"),
    SeedAccount(username="otherbot", bot=True, access_token="otherbot_token"),
])


@pytest.fixture
def make(srv, tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [
        Seed(7, [0.3] * TINY.z_dim, "kept")]))

    def build(clock: Clock | None = None, mastodon_client: Mastodon | None = None,
              **overrides) -> Service:
        return mastodon_service(srv, tiny_weights, tmp_path / "state.db", clock,
                                mastodon_client, **overrides)

    return build


def test_a_mention_gets_one_reply_with_an_image_and_alt_text(srv, make) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    service = make()
    assert client(srv, "bot").account_verify_credentials()["bot"]  # flagged at start
    service.cycle()
    [reply] = replies_to(srv, mention["id"])
    assert reply["in_reply_to_id"] == mention["id"]
    assert "@alice" in reply["content"] and "seed #7" in reply["content"]
    [media] = reply["media_attachments"]
    assert media["description"].startswith("A generated illustration of a person")
    assert "seed #7" in media["description"]
    assert reply["visibility"] == "unlisted"  # public mention, the bot's default is unlisted
    service.cycle()  # a second poll posts nothing new
    assert len(replies_to(srv, mention["id"])) == 1
    assert service.state.counts("mastodon") == {"replied": 1}


def test_a_second_once_run_posts_nothing_new(srv, make) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    make().cycle()
    make().cycle()  # a fresh process on the same state file
    assert len(replies_to(srv, mention["id"])) == 1


def test_a_direct_mention_gets_a_direct_reply(srv, make) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image",
                                               visibility="direct")
    make().cycle()
    [reply] = replies_to(srv, mention["id"])
    assert reply["visibility"] == "direct"


def test_nobot_bio_bots_and_other_text_get_nothing(srv, make) -> None:
    shy = client(srv, "shy").status_post("@bot create a human image")
    robot = client(srv, "otherbot").status_post("@bot create a human image")
    chat = client(srv, "alice").status_post("@bot good morning!")
    service = make()
    service.cycle()
    for status in (shy, robot, chat):
        assert replies_to(srv, status["id"]) == []
    reasons = dict(service.state.db.execute("SELECT author, reason FROM mentions"))
    assert reasons == {"shy": "author's bio has #nobot", "otherbot": "author is a bot",
                       "alice": "no trigger phrase"}


def test_a_failed_post_then_a_rerun_gives_exactly_one_reply(srv, make) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    fault(srv, match={"methods": ["POST"], "path": "/api/v1/statuses"},
          effect={"type": "status", "status": 500}, count=1)
    clock = FakeClock()
    first = make(clock)
    first.cycle()
    assert replies_to(srv, mention["id"]) == []
    record = first.state.get("mastodon", str(mention["id"]))
    assert record.status == "replying" and record.attempts == 1
    first.state.close()
    clock.offset += 3600  # past the backoff
    make(clock).cycle()  # the rerun
    assert len(replies_to(srv, mention["id"])) == 1


def test_a_reply_whose_answer_was_lost_is_found_not_repeated(srv, make) -> None:
    from requests.adapters import HTTPAdapter

    class DropOnce(HTTPAdapter):
        """The server commits the status, but the bot never sees the answer."""

        armed = True

        def send(self, request, **kwargs):
            response = super().send(request, **kwargs)
            if self.armed and request.method == "POST" and request.path_url.startswith(
                    "/api/v1/statuses"):
                DropOnce.armed = False
                raise requests.ConnectionError("connection reset by peer")
            return response

    session = requests.Session()
    session.mount("http://", DropOnce())
    lossy = Mastodon(access_token="bot_token", api_base_url=srv.base_url, session=session,
                     version_check_mode="none", ratelimit_method="throw")
    mention = client(srv, "alice").status_post("@bot create a human image")
    clock = FakeClock()
    service = make(clock, mastodon_client=lossy)
    service.cycle()
    assert len(replies_to(srv, mention["id"])) == 1  # it did go out
    assert service.state.get("mastodon", str(mention["id"])).status == "replying"
    clock.offset += 3600
    service.cycle()  # finds its own reply through the status context
    assert len(replies_to(srv, mention["id"])) == 1
    record = service.state.get("mastodon", str(mention["id"]))
    assert record.status == "replied" and record.reason == "recovered"


def test_a_429_on_notifications_is_waited_out(srv, make) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    service = make()
    reset = int(time.time()) + 120
    fault(srv, match={"methods": ["GET"], "path": "/api/v1/notifications"},
          effect={"type": "ratelimit", "headers": {"X-RateLimit-Reset": str(reset)}}, count=1)
    wait = service.cycle()
    assert service.stats.rate_waits == 1
    assert reset - time.time() <= wait <= reset - time.time() + 3  # until the reset, no more
    assert replies_to(srv, mention["id"]) == []
    service.cycle()
    assert len(replies_to(srv, mention["id"])) == 1


def test_5xx_on_notifications_backs_off_then_recovers(srv, make) -> None:
    client(srv, "alice").status_post("@bot create a human image")
    fault(srv, match={"methods": ["GET"], "path": "/api/v1/notifications"},
          effect={"type": "status", "status": 503}, count=2)
    service = make()
    waits = [service.cycle(), service.cycle()]
    assert 1.0 <= waits[0] <= 2.0 and 2.0 <= waits[1] <= 4.0  # exponential, jittered
    service.cycle()
    assert service.state.counts("mastodon") == {"replied": 1}


def test_malformed_json_is_retried_not_fatal(srv, make) -> None:
    client(srv, "alice").status_post("@bot create a human image")
    fault(srv, match={"methods": ["GET"], "path": "/api/v1/notifications"},
          effect={"type": "malformed"}, count=1)
    service = make()
    assert service.cycle() > 0
    service.cycle()
    assert service.state.counts("mastodon") == {"replied": 1}


def test_401_stops_with_a_clear_message(srv, make) -> None:
    with pytest.raises(Fatal, match="refused the credentials"):
        make(mastodon={"access_token": "wrong"})


def test_a_backlog_bigger_than_a_page_is_read_in_full(srv, make) -> None:
    service = make(user_limit_per_hour=0, mastodon={"media_per_30min": 1000})
    first = client(srv, "alice").status_post("@bot good morning")  # sets the cursor
    service.cycle()
    assert service.state.cursor("mastodon") is not None
    posted = [client(srv, USERS[i % len(USERS)]).status_post(f"@bot create a human image {i}")
              for i in range(45)]  # more than one page of 40
    service.cycle()
    assert service.state.counts("mastodon") == {"replied": 45, "ignored": 1}
    assert all(len(replies_to(srv, s["id"])) == 1 for s in (posted[0], posted[-1]))
    assert first["id"]


def test_media_uploads_are_paced_without_blocking_the_loop(srv, make) -> None:
    for user in USERS[:3]:
        client(srv, user).status_post("@bot create a human image")
    clock = FakeClock()
    service = make(clock, mastodon={"media_per_30min": 2})
    # two replies; the third waits for the window while the loop goes on polling
    assert service.cycle() <= 60 and clock.waits == []
    assert service.state.counts("mastodon") == {"replied": 2, "seen": 1}
    [waiting] = service.state.pending("mastodon")
    due_in = waiting.next_attempt_at - clock.now()
    assert 1700 <= due_in <= 1800 and waiting.attempts == 0
    assert service.metrics.budget_wait._value.get() == pytest.approx(due_in, abs=5)
    assert service.stats.rate_waits == 1
    clock.offset += 900
    service.cycle()  # polled again; still waiting, not counted twice
    assert service.state.counts("mastodon") == {"replied": 2, "seen": 1}
    assert service.stats.rate_waits == 1
    clock.offset += due_in - 900
    service.cycle()
    assert service.state.counts("mastodon") == {"replied": 3}
    assert service.metrics.budget_wait._value.get() == 0


def test_a_timeout_is_retried_not_lost(srv, make) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    fault(srv, match={"methods": ["GET"], "path": "/api/v1/notifications"},
          effect={"type": "latency", "delay_ms": 3000}, count=1)
    service = make(mastodon={"request_timeout": 1})
    assert service.cycle() > 0  # the read timed out: backing off
    assert replies_to(srv, mention["id"]) == []
    service.cycle()
    assert len(replies_to(srv, mention["id"])) == 1


def test_media_not_processed_yet_is_retried(srv, make) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    fault(srv, match={"methods": ["POST"], "path": "/api/v1/statuses"},
          effect={"type": "status", "status": 422,
                  "body": {"error": "Cannot attach files that have not finished processing. "
                                    "Try again in a moment!"}}, count=1)
    clock = FakeClock()
    service = make(clock)
    service.cycle()
    record = service.state.get("mastodon", str(mention["id"]))
    assert record.status == "replying" and "processing" in record.reason  # not given up
    clock.offset += 60
    service.cycle()
    assert len(replies_to(srv, mention["id"])) == 1


def test_a_state_file_restored_from_an_old_backup_repeats_nothing(srv, make, tmp_path) -> None:
    import shutil

    first = client(srv, "alice").status_post("@bot create a human image")
    service = make()
    service.cycle()
    service.state.close()
    shutil.copy(tmp_path / "state.db", tmp_path / "backup.db")  # the nightly backup
    second = client(srv, "bob").status_post("@bot create a human image")
    service = make()
    service.cycle()  # answers bob after the backup was taken
    service.state.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"state.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", tmp_path / "state.db")  # disk lost: restore
    make().cycle()
    assert len(replies_to(srv, first["id"])) == 1
    assert len(replies_to(srv, second["id"])) == 1
