"""The local platform: no account, no network. The embedded default and the demo.

Mentions come from standard input, one per line ("@alice create a human image"; the leading
@handle is the author), and from .txt files dropped into the inbox folder. Replies are written
to the outbox folder as PNG + JSON and their paths printed (a reply's pictures wait in
outbox/uploads/ between the upload and the reply, as on a server). When standard input ends, the
platform reports `finished` once everything read has been answered, so

    echo "@alice create a human image" | python -m bot

answers and exits 0. Each reply names its post id; a line with `re:ID` in it is a reply to
that post, so the conversation commands work here too:

    @alice create a human image           -> reply r3f9c2a1b ... (re:r3f9c2a1b)
    @alice re:r3f9c2a1b more like this    -> four pictures near that one

Bytes on standard input that are not UTF-8 (Latin-1, Shift-JIS, binary)
are read as U+FFFD: such a line never ends the input, and every later line is answered.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.platforms.base import Budget, Me, Media, Mention, Posted, Reaction, TextLimit, Uploaded
from bot.platforms.errors import DiskFull, Rejected, is_disk_full
from bot.settings import LocalSettings

_AUTHOR = re.compile(r"^\s*@([\w.\-]+(?:@[\w.\-]+)?)\s*(.*)$", re.DOTALL)
_RE = re.compile(r"(?<!\w)re:([\w-]+)")  # re:ID names the post a line answers
LOCAL_BOT_ID = "local-bot"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_LINE = 100_000


def _lines(stream: TextIO) -> Iterator[str]:
    """The stream's lines as valid UTF-8 text, at most MAX_LINE characters each.

    Bytes that are not UTF-8 (Latin-1, Shift-JIS, binary) become U+FFFD instead of ending the
    input or reaching the state file and the outbox as lone surrogates: every later line is
    still read. A line longer than MAX_LINE is cut there and the rest of it skipped.
    """
    raw = getattr(stream, "buffer", None)  # sys.stdin: read the bytes under its decoder
    if raw is None:  # a text stream without bytes beneath (io.StringIO in tests)
        for line in stream:
            yield _valid_utf8(line[:MAX_LINE])
        return
    limit = MAX_LINE * 4  # UTF-8 needs at most 4 bytes a character
    while chunk := raw.readline(limit):
        if not chunk.endswith(b"\n"):  # cut at the limit: skip to the end of this line
            while (rest := raw.readline(limit)) and not rest.endswith(b"\n"):
                pass
        yield chunk.decode("utf-8", errors="replace")[:MAX_LINE]


def _valid_utf8(text: str) -> str:
    """Lone surrogates (surrogateescape'd bytes) -> U+FFFD; anything else as it was."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", errors="replace").decode("utf-8")
        return raw.decode("utf-8", errors="replace")


class LocalPlatform:
    name = "local"
    media_limit = (1_000_000, 1.0)  # nothing to respect locally
    idempotent_posts = True
    budget_counts: Budget = "media"
    look_before_reply = True  # reading the outbox costs nothing
    text_limit = TextLimit(500)  # as a default Mastodon server, so the demo shows what it would

    def __init__(self, settings: LocalSettings, stdin: TextIO | None = None,
                 wake: threading.Event | None = None, out: TextIO | None = None):
        self.settings = settings
        self.inbox, self.outbox = Path(settings.inbox), Path(settings.outbox)
        self._stdin = (stdin or sys.stdin) if settings.stdin else None
        self._out = out or sys.stdout
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self._eof = threading.Event()
        self._wake = wake or threading.Event()
        self._counter = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Me:
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.outbox.mkdir(parents=True, exist_ok=True)
        if self._stdin is not None:
            if self._stdin.isatty():
                print("type a mention and press Enter, e.g. @alice create a human image "
                      "(Ctrl-D to finish)", file=sys.stderr, flush=True)
            threading.Thread(target=self._read_stdin, name="local-stdin", daemon=True).start()
        return Me(id=LOCAL_BOT_ID, handle="bot")

    def stop(self) -> None:
        pass

    def _read_stdin(self) -> None:
        assert self._stdin is not None
        try:
            for line in _lines(self._stdin):
                if line.strip():
                    # time-ordered, unique across runs: the id is the arrival time in ns
                    self._lines.put((f"{time.time_ns()}{self._counter:03d}", line))
                    self._counter = (self._counter + 1) % 1000
                    self._wake.set()
        except (OSError, ValueError):
            pass  # a closed stdin ends input like EOF does
        finally:
            self._eof.set()
            self._wake.set()

    @property
    def finished(self) -> bool:
        return self._stdin is not None and self._eof.is_set() and self._lines.empty()

    # ------------------------------------------------------------ mentions

    def _mention(self, mention_id: str, line: str) -> Mention:
        match = _AUTHOR.match(line)
        author, text = (match.group(1), line) if match else ("local-user", line)
        answers = _RE.search(text)
        return Mention(id=mention_id, author=author, author_id=author.casefold(),
                       author_is_bot=False, author_bio="", text=text.strip(), is_html=False,
                       visibility="public", created_at=datetime.now(UTC),
                       in_reply_to_id=answers.group(1) if answers else "",
                       # re:ID can only name the bot's own posts: nobody else posts here
                       in_reply_to_account_id=LOCAL_BOT_ID if answers else "")

    def take_reactions(self) -> list[Reaction]:
        return []  # nobody favourites a folder

    def fetch_mentions(self, since_id: str | None, not_before: datetime | None
                       ) -> list[Mention]:
        out = []
        while True:
            try:
                mention_id, line = self._lines.get_nowait()
            except queue.Empty:
                break
            out.append(self._mention(mention_id, line))
        for path in sorted(self.inbox.glob("*.txt")):
            st = path.stat()
            text = path.read_bytes()[:MAX_LINE].decode("utf-8", errors="replace")
            out.append(self._mention(f"file-{_SAFE.sub('_', path.stem)}-{st.st_mtime_ns}", text))
        return out

    # ------------------------------------------------------------ replies

    def _write(self, name: str, record: dict[str, object], media: list[Media]) -> Path:
        """The pictures, then the JSON (its presence means the post is complete). Returns the
        first picture's path (the JSON's for a note)."""
        if len(media) > 4:
            raise ValueError(f"{len(media)} pictures in one post; at most 4")
        paths: list[Path] = []
        with _all_or_none(paths):
            for i, item in enumerate(media):
                suffix = ".gif" if item.is_gif else ".png"
                path = self.outbox / (f"{name}{suffix}" if len(media) == 1 else
                                      f"{name}-{i + 1}{suffix}")
                _write_atomically(path, item.data)
                paths.append(path)
            if media:
                record["image"] = paths[0].name
                record["images"] = [p.name for p in paths]
                record["alt_texts"] = [item.alt_text for item in media]
            meta = self.outbox / f"{name}.json"
            _write_atomically(meta, (json.dumps(record, ensure_ascii=False, indent=1) + "\n"
                                     ).encode("utf-8"))
        return paths[0] if paths else meta

    def _settle_inbox_file(self, mention: Mention) -> None:
        if not mention.id.startswith("file-"):
            return
        done = self.inbox / "answered"
        done.mkdir(exist_ok=True)
        for path in self.inbox.glob("*.txt"):
            if mention.id == f"file-{_SAFE.sub('_', path.stem)}-{path.stat().st_mtime_ns}":
                path.replace(done / path.name)

    def upload(self, media: list[Media]) -> Uploaded:
        """Into outbox/uploads/ (bytes, then a JSON with the type and alt text), where reply
        takes them from: an upload outlives a restart, as on a real server."""
        if not 1 <= len(media) <= 4:
            raise ValueError(f"{len(media)} pictures in one post; 1 to 4")
        folder = self.outbox / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        ids, written = [], []
        with _all_or_none(written):
            for i, item in enumerate(media):
                media_id = f"m{time.time_ns()}-{i}"
                for path, data in ((folder / media_id, item.data),
                                   (folder / f"{media_id}.json", json.dumps(
                                       {"mime": item.mime, "alt_text": item.alt_text}
                                   ).encode("utf-8"))):
                    _write_atomically(path, data)
                    written.append(path)
                ids.append(media_id)
        return Uploaded(tuple(ids))

    def processed(self, uploaded: Uploaded) -> Uploaded:
        return uploaded.checked([], 0.0)  # nothing to process locally

    def _uploaded(self, uploaded: Uploaded) -> list[Media]:
        folder = self.outbox / "uploads"
        media = []
        for media_id in uploaded.ids:
            try:
                meta = json.loads((folder / f"{media_id}.json").read_text(encoding="utf-8"))
                media.append(Media((folder / media_id).read_bytes(), meta["mime"],
                                   meta["alt_text"]))
            except (OSError, ValueError, KeyError) as exc:
                raise Rejected(f"uploaded media {media_id} is gone from {folder}: {exc}") from exc
        return media

    def reply(self, mention: Mention, text: str, uploaded: Uploaded) -> Posted:
        media = self._uploaded(uploaded)
        name = f"reply-{_SAFE.sub('_', mention.id)}"
        post_id = reply_id(mention.id)
        path = self._write(name, {"id": post_id, "in_reply_to": mention.id,
                                  "to": mention.author, "text": text,
                                  "alt_text": media[0].alt_text if media else "",
                                  "at": datetime.now(UTC).isoformat()}, media)
        more = f" and {len(media) - 1} more" if len(media) > 1 else ""
        print(f"reply to @{mention.author}: {path}{more} (answer it with re:{post_id})",
              file=self._out, flush=True)
        for media_id in uploaded.ids:  # attached now: the outbox holds them
            for leftover in (media_id, f"{media_id}.json"):
                (self.outbox / "uploads" / leftover).unlink(missing_ok=True)
        self._settle_inbox_file(mention)
        return Posted(id=post_id, url=str(path))

    def send_note(self, mention: Mention, text: str) -> Posted:
        name = f"note-{_SAFE.sub('_', mention.id)}"
        path = self._write(name, {"in_reply_to": mention.id, "to": mention.author,
                                  "text": text, "at": datetime.now(UTC).isoformat()}, [])
        print(f"note to @{mention.author}: {text}", file=self._out, flush=True)
        self._settle_inbox_file(mention)
        return Posted(id=name, url=str(path))

    def settle(self, mention: Mention) -> None:
        """A mention answered with silence: move its inbox file out of the way too."""
        self._settle_inbox_file(mention)

    def post(self, text: str, media: list[Media], key: str = "") -> Posted:
        name = f"post-{_SAFE.sub('_', key) or time.time_ns()}"
        if (self.outbox / f"{name}.json").is_file():
            raise Rejected(f"{name} was posted already")
        path = self._write(name, {"id": name, "text": text,
                                  "alt_text": media[0].alt_text if media else "",
                                  "at": datetime.now(UTC).isoformat()}, media)
        print(f"posted: {path} (answer it with re:{name})", file=self._out, flush=True)
        return Posted(id=name, url=str(path))

    def delete(self, post_id: str) -> None:
        """Move the post's files to outbox/deleted/ (a post gone already is no error)."""
        for meta in self.outbox.glob("*.json"):
            try:
                record = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            if record.get("id") != post_id:
                continue
            gone = self.outbox / "deleted"
            gone.mkdir(exist_ok=True)
            for image in record.get("images") or []:
                if (self.outbox / image).is_file():
                    (self.outbox / image).replace(gone / image)
            meta.replace(gone / meta.name)  # the JSON last, as it was written
            print(f"deleted: {post_id}", file=self._out, flush=True)

    def find_reply(self, mention: Mention) -> Posted | None:
        name = f"reply-{_SAFE.sub('_', mention.id)}"
        if (self.outbox / f"{name}.json").is_file():
            return Posted(id=reply_id(mention.id), url=str(self.outbox / f"{name}.json"))
        name = f"note-{_SAFE.sub('_', mention.id)}"
        if (self.outbox / f"{name}.json").is_file():
            return Posted(id=name, url=str(self.outbox / f"{name}.json"))
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    """A whole file or none: written beside, then renamed (a reader never sees half a PNG).
    A full disk is DiskFull (transient), with no .tmp left behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFull(path.parent, exc) from exc
        raise


@contextmanager
def _all_or_none(written: list[Path]) -> Iterator[None]:
    """The files of one post or upload: when one cannot be written, those written before it
    are removed too, so a retry starts from nothing and the folder holds no part of a post."""
    try:
        yield
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def reply_id(mention_id: str) -> str:
    """A reply's post id: short enough to type after re:, the same whenever it is asked."""
    return "r" + hashlib.sha256(mention_id.encode("utf-8")).hexdigest()[:8]
