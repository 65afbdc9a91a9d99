"""Where Japanese words begin and end: kind and tone words count only as whole words.

Japanese is written without spaces, so "コック" (cook) occurs inside "コックピット" (cockpit) and
"医者" (doctor) inside "歯医者" (dentist). A Japanese phrase names a kind only where a
morphological analyser puts a word boundary at both of its ends. Sudachi (`sudachipy`, with
its core dictionary from PyPI as `sudachidict-core`: nothing is downloaded at run time) in its
longest split mode (C) keeps compounds whole: 歯医者, 警察署 (police station), こどもの日
(Children's Day) are one word each, so 医者, 警察 and こども inside them name nobody, while
宇宙飛行士 (astronaut) is 宇宙|飛行士 and 中華料理人 (Chinese cook) 中華|料理人.

The analyser loads on the first Japanese phrase found in a text (about 0.1 s, once per
process; then tens of microseconds a call), so English-only traffic never loads it. It reads a
window around each occurrence, never the whole text: Sudachi refuses inputs over 48 KiB, and
so a mention costs time in proportion to the phrases found in it. No torch, no I/O.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

WINDOW = 32  # characters read on each side of an occurrence: many words' worth of context
_LOCK = threading.Lock()  # one Sudachi tokenizer must not run in two threads at once


@functools.cache
def _tokenizer() -> Any:
    from sudachipy import Dictionary, SplitMode

    return Dictionary(dict="core").tokenizer(mode=SplitMode.C)


def is_whole_word(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] begins and ends where the analyser puts word boundaries."""
    lo, hi = max(0, start - WINDOW), min(len(text), end + WINDOW)
    with _LOCK:
        bounds = {b for m in _tokenizer().tokenize(text[lo:hi]) for b in (m.begin(), m.end())}
    return start - lo in bounds and end - lo in bounds
