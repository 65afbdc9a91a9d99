"""The poll loop: mentions in, pictures out, nothing lost, nothing twice.

Two halves. What to do with a mention is decided by `bot.conversation.decision.decide`, a pure
function of the mention and the facts looked up here (its author's quota, the platform's budget, the
picture it answers if it is one of the bot's): ignore, refuse, note, reply, delete or wait. A
reply to one of the bot's pictures may ask for more of it (again, more like this, morph),
delete it or ask for help; "like #12" works anywhere. Every picture sent is remembered with its
latent, so the conversation can go on from any of them.

`Service` is the executor: it polls, records each mention before doing anything, asks
`decide`, and does the I/O. Handling a mention never waits on purpose (it blocks only on I/O:
an HTTP call up to its timeout, the state file's lock up to 30 s while another process writes
it, SQLite's busy handler sleeping meanwhile): a mention that must wait (for the post budget, a
rate-limit reset, a retry after a 5xx, media the platform is still processing) stays pending in
the state file with its due time, and the loop goes on polling, serving health, reloading and
posting. The loop waits on purpose in one place, until the earliest of the next poll, the next
due mention and the daily post. The cursor moves past
every mention read: the state file, not the platform, holds the ones still waiting.

Every post that answers a mention, a reply or a note, takes one path, exactly once: a reply's
media is uploaded and kept in the state file with the text and latents (`Outgoing`); the
platform is asked about its processing as often as it says, from the loop; the mention is
marked `replying` with what is about to be posted; then it is posted and settled, its cost
against the platform's budget counted in the same transaction. A mention found `replying`
(a crash, a lost answer) is looked for on the platform before anything is sent again.

Errors are sorted by kind: a 429 is waited out until its reset; a transient failure (5xx,
timeouts, network errors, media still processing, a full disk) backs off exponentially with
jitter, capped at BACKOFF_CAP, for as long as the mention is within its backlog window
(BOT_BACKLOG_HOURS, at least RETRY_WINDOW), however many attempts that takes: an instance is
down for minutes during an upgrade; a 401 (or a token without the scope to post) stops the bot
with a message; only a permanent refusal for one mention (a 4xx that will not change, media
the server rejects, a deleted status) settles it as failed. Every failed request while
answering a mention (a lookup, an upload, a post) counts as one attempt of it; an exception
nobody expected does too, and gives up after BOT_MAX_ATTEMPTS (a bug does not go away by
waiting). While the platform fails, one pending mention at a time probes it, after the
backoff, the others waiting behind it: at most 8 tries in a 3-minute outage and 24 in a
2-hour one (each a request or two), and as many polls if the polls fail too (counted in
tests/test_outages.py); `/healthz` and bot_platform_failing say the platform is failing.
SIGTERM or SIGINT lets the request in flight finish, then the loop exits; a reply whose media
is still being processed stays pending in the state file and goes on after a restart.

The package, one module per job: `loop` (Service: start, run, step, reload), `clock` (time and
the counters), `polling` (fetch, record, the cursor), `answering` (facts, the decision, the
drawings), `outbox` (the one exactly-once path), `retry` (error kind -> action) and `daily`
(the daily post).
"""

from bot.service.clock import Clock
from bot.service.loop import Service
from bot.service.retry import Fatal, Unavailable

__all__ = ["Clock", "Fatal", "Service", "Unavailable"]
