"""Every sentence the bot posts: replies, the notes, the help, alt texts, the daily post.

Kept apart from the decision and the executor so that the voice of the bot is in one place.
Each language is one `Sentences` table of format strings; a request is answered in the
language of the phrase it matched (`Request.lang`), and a language with no table gets English.
Adding a language is adding a table (a test checks that it fills the same places as the
English one) and its tests in `commands.phrase_language` and `language`. Each text names the
commands as the operator configured them (BOT_COMMANDS), in the reader's language where there
is one.

Every note and reply is cut to the platform's length (`fit`, counted as the platform counts:
`weighted_len`). This module loads no torch and no model: the pure decision uses it.
"""

from __future__ import annotations

from bot.conversation import commands
from bot.conversation.drawn import Drawn
from bot.conversation.english import ENGLISH
from bot.conversation.japanese import JAPANESE
from bot.conversation.kinds import EMPTY, Vocabulary
from bot.conversation.sentences import Sentences
from bot.platforms.base import Mention, TextLimit
from bot.settings import Settings
from bot.state.records import Picture

SENTENCES: dict[str, Sentences] = {"en": ENGLISH, "ja": JAPANESE}


def sentences(lang: str) -> Sentences:
    return SENTENCES.get(lang, ENGLISH)


# ---------------------------------------------------------------- length, as platforms count

# X's weighted length: code points in these ranges count 1, all others (CJK, emoji) count the
# platform's `wide` (X's twitter-text configuration v3). Mastodon counts each character once.
_NARROW = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
ELLIPSIS = "…"


def _weight(ch: str, wide: int) -> int:
    code = ord(ch)
    return 1 if wide == 1 or any(lo <= code <= hi for lo, hi in _NARROW) else wide


def weighted_len(text: str, limit: TextLimit) -> int:
    return sum(_weight(ch, limit.wide) for ch in text)


def fit(text: str, limit: TextLimit) -> str:
    """The text, or as much of it as the platform takes with an ellipsis: cut at a space when
    there is one in the second half (CJK has none: cut anywhere). Operator phrases and handles
    can be long, so every post goes through here."""
    if weighted_len(text, limit) <= limit.chars:
        return text
    room, end = limit.chars - weighted_len(ELLIPSIS, limit), 0
    while room >= _weight(text[end], limit.wide):  # the text is longer than room: no overrun
        room -= _weight(text[end], limit.wide)
        end += 1
    cut = text[:end]
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) // 2 else cut).rstrip() + ELLIPSIS


# ---------------------------------------------------------------- phrases

def _in_language(phrases: list[str], lang: str) -> str:
    """The first phrase written in `lang`, else the first of all (the operator's own)."""
    return next((p for p in phrases if commands.phrase_language(p) == lang), phrases[0])


def _phrase(settings: Settings, command: str, lang: str) -> str:
    """A command's phrase, as the operator configured it."""
    phrases = settings.commands.get(command) or commands.DEFAULT_COMMANDS[command]
    return _in_language(phrases, lang)


def _numbered(phrase: str, n: int) -> str:
    """'more like this 2', '似たのを2': a number after a phrase, spaced as its language is."""
    return f"{phrase}{'' if commands.phrase_language(phrase) == 'ja' else ' '}{n}"


def _more(settings: Settings, lang: str) -> str:
    """The reply's last sentence: what works as a reply to the picture."""
    again, like_this, morph = (_phrase(settings, c, lang) for c in ("again", "variations",
                                                                     "morph"))
    return sentences(lang).more.format(again=again, like_this=like_this, morph=morph)


# ---------------------------------------------------------------- replies and notes

def reply_text(mention: Mention, drawings: list[Drawn], request: commands.Request,
               settings: Settings, limit: TextLimit, vocabulary: Vocabulary = EMPTY) -> str:
    """The words of a picture reply: what it is, and what a reply to it can ask; first, when
    the kind or tone asked for could not be drawn, one sentence that says so."""
    lang, first = request.lang, drawings[0]
    s, more = sentences(lang), _more(settings, lang)
    if request.command == "variations":
        what = s.variations.format(more=more, example=_numbered(
            _phrase(settings, "variations", lang), 2))
    elif request.command == "morph":
        to = (s.to_seed.format(seed=first.morph_to) if first.morph_to is not None
              else s.to_someone)
        what = s.morph.format(to=to, more=more)
    else:
        origin = (s.from_seed.format(seed=first.seed_id) if first.seed_id is not None
                  else s.from_random)
        shows = describe(first.kind, first.tone, lang, vocabulary, s.a_human)
        what = s.picture.format(what=shows, origin=origin, more=more)
        missing = missing_text(request.kind, request.tone, first, lang, vocabulary)
        what = f"{missing}{s.space}{what}" if missing else what
    return fit(f"@{mention.author} {what}", limit)


# The emoji styles of the vector data set (model.data.kinds.STYLES) as people know them.
STYLE_NAMES = {"noto": "Noto", "twemoji": "Twemoji", "fluent": "Fluent Flat"}


def describe(kind: str, tone: str, lang: str, vocabulary: Vocabulary, default: str,
             style: str = "") -> str:
    """What a picture shows, as the bot says it: "a cook with medium-dark skin tone",
    "コック（やや濃い肌）", and the style a generator of several styles drew it in ("..., in
    the Twemoji style"); `default` ("a human") for a seed without a label."""
    what = _shows(kind, tone, lang, vocabulary, default)
    if not style or not what:
        return what
    return sentences(lang).in_style.format(what=what, style=STYLE_NAMES.get(style, style))


def _shows(kind: str, tone: str, lang: str, vocabulary: Vocabulary, default: str) -> str:
    if not kind and not tone:
        return default
    name = _a(vocabulary.name(kind, lang), lang) if kind else default
    if not tone:
        return name
    return sentences(lang).with_tone.format(kind=name, tone=vocabulary.tone_name(tone, lang))


def _a(name: str, lang: str) -> str:
    """An English kind with its article ("an astronaut"; a name like "Santa Claus" has none)."""
    if lang != "en" or not name or name[0].isupper():
        return name
    return ("an " if name[0] in "aeiou" else "a ") + name


def missing_text(kind: str | None, tone: str | None, drawing: Drawn, lang: str,
                 vocabulary: Vocabulary) -> str:
    """The sentence for a kind the bot has no seed for (naming the closest it can draw), or a
    kind it has but not in the tone asked for; "" when it drew what was asked. A reply
    carries it, and so does `python -m bot generate --ask`."""
    s = sentences(lang)
    if kind and kind != drawing.kind:
        if not drawing.closest:  # no labelled seeds: nothing useful to offer
            return ""
        names = [_a(vocabulary.name(k, lang), lang) for k in drawing.closest]
        some = (s.comma.join(names[:-1]) + s.or_ + names[-1]) if len(names) > 1 else names[0]
        return s.no_kind.format(kind=_a(vocabulary.name(kind, lang), lang), some=some)
    if tone and tone != drawing.tone:
        drawn = vocabulary.name(drawing.kind, lang) if drawing.kind else s.a_person
        return s.no_tone.format(kind=drawn.removeprefix("a "),
                                tone=vocabulary.tone_name(tone, lang))
    return ""


def limit_text(mention: Mention, lang: str, per_hour: int, minutes: int, asked: int,
               limit: TextLimit) -> str:
    """The note to a person over the hourly limit."""
    s = sentences(lang)
    what = (s.limit_many.format(asked=asked, limit=per_hour, minutes=minutes) if asked > 1
            else s.limit_one.format(limit=per_hour, minutes=minutes))
    return fit(f"@{mention.author} {what}", limit)


def help_text(mention: Mention, settings: Settings, lang: str, limit: TextLimit) -> str:
    again, like_this, morph, delete = (_phrase(settings, c, lang)
                                       for c in ("again", "variations", "morph", "delete"))
    like = _in_language(settings.like_phrases, lang).replace("{n}", "12")
    s, trigger = sentences(lang), _in_language(settings.triggers, lang)
    what = s.help.format(again=again, like_this=like_this, morph=morph, delete=delete,
                         like=like, trigger=trigger,
                         example=s.help_example.format(trigger=trigger))
    return fit(f"@{mention.author} {what}", limit)


def unknown_seed_text(mention: Mention, seed_id: int, known: frozenset[int], lang: str,
                      limit: TextLimit) -> str:
    """"No such seed", naming a few known ones and as many of the known ranges as fit (a
    hundred scattered seeds are a hundred ranges): the list is cut, never the sentence."""
    s, ids = sentences(lang), sorted(known)
    if not ids:
        return fit(f"@{mention.author} {s.no_seeds.format(seed=seed_id)}", limit)
    few = ids[:: max(1, len(ids) // 3)][:3]
    some = s.comma.join(f"#{i}" for i in few)
    ranges = _ranges(ids)
    for shown in range(len(ranges), 0, -1):
        listed = s.comma.join(ranges[:shown]) + ("" if shown == len(ranges) else ELLIPSIS)
        text = f"@{mention.author} " + s.unknown_seed.format(seed=seed_id, some=some,
                                                             ranges=listed)
        if weighted_len(text, limit) <= limit.chars:
            return text
    return fit(text, limit)


def gone_text(mention: Mention, settings: Settings, lang: str, limit: TextLimit) -> str:
    """A command to a picture the bot no longer knows (deleted, or older than its state)."""
    what = sentences(lang).gone.format(trigger=_in_language(settings.triggers, lang))
    return fit(f"@{mention.author} {what}", limit)


def pick_text(mention: Mention, phrase: str, count: int, lang: str, limit: TextLimit) -> str:
    """A number the post replied to does not have ("morph 9" to four pictures)."""
    s = sentences(lang)
    what = (s.pick_one.format(phrase=phrase) if count == 1 else
            s.pick_some.format(count=count, example=_numbered(phrase, 2)))
    return fit(f"@{mention.author} {what}", limit)


# ---------------------------------------------------------------- alt texts

def alt_text(seed_id: int | None, sigma: float, lang: str = "en", kind: str = "",
             tone: str = "", vocabulary: Vocabulary = EMPTY, style: str = "") -> str:
    """A picture's alt text, naming what it shows when its seed is labelled, and its style."""
    s = sentences(lang)
    what = describe(kind, tone, lang, vocabulary, s.a_person, style)
    if seed_id is None:
        return s.alt_random.format(what=what)
    return s.alt_seed.format(what=what, seed=seed_id, sigma=f"{sigma:g}")


def variation_alt_text(i: int, n: int, sigma: float, lang: str = "en", kind: str = "",
                       tone: str = "", vocabulary: Vocabulary = EMPTY, style: str = "") -> str:
    what = describe(kind, tone, lang, vocabulary, sentences(lang).a_person, style)
    return sentences(lang).alt_variation.format(i=i, n=n, what=what, sigma=f"{sigma:g}")


def morph_alt_text(seed_id: int | None, morph_to: int | None, lang: str = "en") -> str:
    s = sentences(lang)
    start = s.morph_start if seed_id is None else s.morph_start_seed.format(seed=seed_id)
    end = s.morph_end_random if morph_to is None else s.morph_end_seed.format(seed=morph_to)
    return s.alt_morph.format(start=start, end=end)


# ---------------------------------------------------------------- the daily post

def daily_text(drawing: Drawn, favourite: Picture | None, lang: str = "en",
               vocabulary: Vocabulary = EMPTY) -> str:
    """The daily post's words: near yesterday's favourite (with its counts and link) or near a
    good seed, naming what it shows when its seed is labelled."""
    s = sentences(lang)
    shows = describe(drawing.kind, drawing.tone, lang, vocabulary, "", drawing.style)
    what = s.daily_what.format(what=shows) if shows else ""
    if favourite is None:
        return (s.daily if drawing.seed_id is None
                else s.daily_seed.format(what=what, seed=drawing.seed_id))
    counts = _count(favourite.favourites, s.favourites_one, s.favourites)
    if favourite.boosts:
        counts += s.and_ + _count(favourite.boosts, s.boosts_one, s.boosts)
    link = f" {favourite.url}" if favourite.url else ""
    return s.daily_favourite.format(what=what, counts=counts, link=link)


def _count(n: int, one: str, many: str) -> str:
    return one if n == 1 else many.format(n=n)


# ---------------------------------------------------------------- seed numbers

def _ranges(ids: list[int]) -> list[str]:
    """[1, 2, 3, 5, 7, 8] -> ['1-3', '5', '7-8']."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return [str(a) if a == b else f"{a}-{b}" for a, b in out]


def id_ranges(ids: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> '1-3, 5, 7-8': a hundred seed ids in one short line."""
    return ", ".join(_ranges(ids)) or "none"
