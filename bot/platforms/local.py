"""The local platform: no account, no network. The embedded default and the demo.

Mentions come from standard input, one per line ("@alice create a human image"; the leading
@handle is the author), and from .txt files dropped into the inbox folder. Replies are written
to the outbox folder as PNG + JSON and their paths printed. When standard input ends, the
platform reports `finished` once everything read has been answered, so

    echo "@alice create a human image" | python -m bot

answers and exits 0. Bytes on standard input that are not UTF-8 (Latin-1, Shift-JIS, binary)
are read as U+FFFD: such a line never ends the input, and every later line is answered.
"""

from __future__ import annotations

import json
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.config import LocalSettings
from bot.platforms.base import Me, Mention, Posted, Rejected

_AUTHOR = re.compile(r"^\s*@([\w.\-]+(?:@[\w.\-]+)?)\s*(.*)$", re.DOTALL)
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
    notes_count_against_limit = False
    look_before_reply = True  # reading the outbox costs nothing

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
        return Me(id="local-bot", handle="bot")

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
        return Mention(id=mention_id, author=author, author_id=author.casefold(),
                       author_is_bot=False, author_bio="", text=text.strip(), is_html=False,
                       visibility="public", created_at=datetime.now(UTC))

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

    def _write(self, name: str, record: dict[str, object], png: bytes | None) -> Path:
        if png is not None:
            image = self.outbox / f"{name}.png"
            tmp = image.with_suffix(".png.tmp")
            tmp.write_bytes(png)
            tmp.replace(image)
            record["image"] = image.name
        meta = self.outbox / f"{name}.json"
        tmp = meta.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n")
        tmp.replace(meta)  # the JSON last: its presence means the reply is complete
        return self.outbox / f"{name}.png" if png is not None else meta

    def _settle_inbox_file(self, mention: Mention) -> None:
        if not mention.id.startswith("file-"):
            return
        done = self.inbox / "answered"
        done.mkdir(exist_ok=True)
        for path in self.inbox.glob("*.txt"):
            if mention.id == f"file-{_SAFE.sub('_', path.stem)}-{path.stat().st_mtime_ns}":
                path.replace(done / path.name)

    def reply(self, mention: Mention, text: str, png: bytes, alt_text: str) -> Posted:
        name = f"reply-{_SAFE.sub('_', mention.id)}"
        path = self._write(name, {"in_reply_to": mention.id, "to": mention.author,
                                  "text": text, "alt_text": alt_text,
                                  "at": datetime.now(UTC).isoformat()}, png)
        print(f"reply to @{mention.author}: {path}", file=self._out, flush=True)
        self._settle_inbox_file(mention)
        return Posted(id=name, url=str(path))

    def send_note(self, mention: Mention, text: str) -> Posted:
        name = f"note-{_SAFE.sub('_', mention.id)}"
        path = self._write(name, {"in_reply_to": mention.id, "to": mention.author,
                                  "text": text, "at": datetime.now(UTC).isoformat()}, None)
        print(f"note to @{mention.author}: {text}", file=self._out, flush=True)
        self._settle_inbox_file(mention)
        return Posted(id=name, url=str(path))

    def settle(self, mention: Mention) -> None:
        """A mention answered with silence: move its inbox file out of the way too."""
        self._settle_inbox_file(mention)

    def post(self, text: str, png: bytes, alt_text: str, key: str = "") -> Posted:
        name = f"post-{_SAFE.sub('_', key) or time.time_ns()}"
        if (self.outbox / f"{name}.json").is_file():
            raise Rejected(f"{name} was posted already")
        path = self._write(name, {"text": text, "alt_text": alt_text,
                                  "at": datetime.now(UTC).isoformat()}, png)
        print(f"posted: {path}", file=self._out, flush=True)
        return Posted(id=name, url=str(path))

    def find_reply(self, mention: Mention) -> Posted | None:
        for prefix in ("reply", "note"):
            name = f"{prefix}-{_SAFE.sub('_', mention.id)}"
            if (self.outbox / f"{name}.json").is_file():
                return Posted(id=name, url=str(self.outbox / f"{name}.json"))
        return None
