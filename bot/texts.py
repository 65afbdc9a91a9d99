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

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import commands
from bot.config import Settings
from bot.kinds import EMPTY, Vocabulary
from bot.platforms.base import Mention, TextLimit
from bot.state import Picture

if TYPE_CHECKING:  # only its fields are read; importing bot.artist would load torch
    from bot.artist import Drawing


@dataclass(frozen=True)
class Sentences:
    """One language's sentences. {names} are filled in by the functions below."""

    more: str  # {again} {like_this} {morph}: what works as a reply to a picture
    picture: str  # {what} {origin} {more}
    from_seed: str  # {seed}
    from_random: str
    variations: str  # {more} {example}
    morph: str  # {to} {more}
    to_seed: str  # {seed}
    to_someone: str
    limit_one: str  # {limit} {minutes}
    limit_many: str  # {asked} {limit} {minutes}
    help: str  # {again} {like_this} {morph} {delete} {like} {trigger} {example}
    help_example: str  # {trigger}: a request that names a kind and a skin tone
    unknown_seed: str  # {seed} {some} {ranges}
    no_seeds: str  # {seed}
    gone: str  # {trigger}
    pick_some: str  # {count} {example}
    pick_one: str  # {phrase}
    alt_seed: str  # {what} {seed} {sigma}
    alt_random: str  # {what}
    alt_variation: str  # {i} {n} {what} {sigma}
    alt_morph: str  # {start} {end}
    morph_start: str
    morph_start_seed: str  # {seed}
    morph_end_seed: str  # {seed}
    morph_end_random: str
    daily: str
    daily_seed: str  # {what} {seed}
    daily_favourite: str  # {what} {counts} {link}
    daily_what: str  # {what}: what a daily post of a labelled seed shows
    favourites_one: str
    favourites: str  # {n}
    boosts_one: str
    boosts: str  # {n}
    and_: str  # between the favourites and the boosts
    comma: str  # between seed numbers
    space: str  # between two sentences
    a_human: str  # what a picture is, when its seed has no label
    a_person: str  # what an alt text describes, when its seed has no label
    with_tone: str  # {kind} {tone}
    in_style: str  # {what} {style}: a picture of a generator that draws several styles
    no_kind: str  # {kind} {some}: a kind the bot has no seed for, and kinds it can draw
    no_tone: str  # {kind} {tone}: a kind it has, but not in that tone
    or_: str  # before the last of the kinds it can draw


ENGLISH = Sentences(
    more='Reply "{again}", "{like_this}" or "{morph}" to it for more.',
    picture="Here is {what}, drawn {origin}. {more}",
    from_seed="from seed #{seed}",
    from_random="from a random seed",
    variations='Four more like that one. {more} Add 1-4 to pick one, like "{example}".',
    morph="From your picture to {to} and back. {more}",
    to_seed="seed #{seed}",
    to_someone="someone new",
    limit_one=("You have had {limit} pictures this hour, which is my limit per person. "
               "Please ask again in about {minutes} minutes."),
    limit_many=("That would be {asked} more pictures, past my limit of {limit} per person per "
                "hour. Please ask again in about {minutes} minutes."),
    help=('Reply to one of my pictures with "{again}", "{like_this}" (four), "{morph}" (an '
          'animation) or "{delete}" (yours only). "{like}" anywhere asks for seed #12; '
          '"{trigger}" for a new one; "{example}" for a kind.'),
    help_example="{trigger} of a pilot with dark skin",
    unknown_seed="I have no seed #{seed}. Try one of mine, like {some} (I know {ranges}).",
    no_seeds="I have no seed #{seed}, and no good seeds at all yet.",
    gone=("I cannot find a picture of mine in the post you answered; it may have been "
          'deleted. Ask me for a new one with "{trigger}".'),
    pick_some='That post has pictures 1 to {count}: add one of those, like "{example}".',
    pick_one='That post has one picture: reply "{phrase}" without a number.',
    alt_seed=("A generated illustration of {what} in a flat, emoji-like style, made by a GAN "
              "from seed #{seed} with noise {sigma}."),
    alt_random=("A generated illustration of {what} in a flat, emoji-like style, made by a "
                "GAN from a random latent vector."),
    alt_variation=("Variation {i} of {n}: a generated illustration of {what} in a flat, "
                   "emoji-like style, made by a GAN near the picture this replies to (noise "
                   "{sigma})."),
    alt_morph=("An animation of generated people in a flat, emoji-like style: {start} turns "
               "smoothly into {end} and back."),
    morph_start="the picture this replies to",
    morph_start_seed="the picture this replies to (seed #{seed})",
    morph_end_seed="good seed #{seed}",
    morph_end_random="another random person",
    daily="Today's human.",
    daily_seed="Today's human{what} (seed #{seed}).",
    daily_favourite=("Today's human{what}, drawn near yesterday's favourite picture ({counts})."
                     "{link}"),
    daily_what=": {what}",
    favourites_one="1 favourite",
    favourites="{n} favourites",
    boosts_one="1 boost",
    boosts="{n} boosts",
    and_=" and ",
    comma=", ",
    space=" ",
    a_human="a human",
    a_person="a person",
    with_tone="{kind} with {tone}",
    in_style="{what}, in the {style} style",
    no_kind="I cannot draw {kind} yet; I can draw {some}.",
    no_tone="I have no {kind} with {tone} yet.",
    or_=" or ",
)

JAPANESE = Sentences(
    more="この絵に「{again}」「{like_this}」「{morph}」と返信すると、続きを描きます。",
    picture="{what}を描きました（{origin}）。{more}",
    from_seed="シード#{seed}から",
    from_random="ランダムなシードから",
    variations=("その絵に似た4枚です。{more}「{example}」のように1〜4の番号を付けると、"
                "その1枚から続けます。"),
    morph="あなたの絵から{to}に変わって戻るアニメーションです。{more}",
    to_seed="シード#{seed}",
    to_someone="新しい誰か",
    limit_one=("この1時間で{limit}枚描きました。1人あたりの上限です。{minutes}分ほどしてから、"
               "またどうぞ。"),
    limit_many=("あと{asked}枚描くと、1人1時間{limit}枚の上限を超えてしまいます。{minutes}分ほど"
                "してから、またどうぞ。"),
    help=("私の絵に「{again}」「{like_this}」（4枚）「{morph}」（アニメーション）「{delete}」"
          "（あなたの絵だけ）と返信できます。「{like}」はどこでもシード#12の近くを、"
          "「{trigger}」は新しい1枚を、「{example}」はその種類の人を描きます。"),
    help_example="濃い肌のパイロットの{trigger}",
    unknown_seed="シード#{seed}はありません。たとえば{some}はいかがですか（あるのは{ranges}）。",
    no_seeds="シード#{seed}はありません。よいシードはまだひとつもありません。",
    gone=("返信先の投稿に私の絵が見つかりません。削除されたのかもしれません。"
          "「{trigger}」と送ってくだされば、新しい絵を描きます。"),
    pick_some=("その投稿の絵は1〜{count}番です。「{example}」のように、"
               "その中の番号を付けてください。"),
    pick_one="その投稿の絵は1枚だけです。番号を付けずに「{phrase}」と返信してください。",
    alt_seed=("GANがシード#{seed}にノイズ{sigma}を加えて描いた、"
              "絵文字のようなフラットな{what}のイラスト。"),
    alt_random="GANがランダムな潜在ベクトルから描いた、絵文字のようなフラットな{what}のイラスト。",
    alt_variation=("バリエーション{i}/{n}：GANが返信先の絵の近く（ノイズ{sigma}）に描いた、"
                   "絵文字のようなフラットな{what}のイラスト。"),
    alt_morph=("絵文字のようなフラットな人物のアニメーション：{start}が{end}へ"
               "なめらかに変わり、また戻ります。"),
    morph_start="返信先の絵",
    morph_start_seed="返信先の絵（シード#{seed}）",
    morph_end_seed="よいシード#{seed}",
    morph_end_random="別のランダムな人",
    daily="今日の人間です。",
    daily_seed="今日の人間です{what}（シード#{seed}）。",
    daily_favourite="昨日いちばん人気だった絵の近くに描いた、今日の人間です{what}（{counts}）。{link}",
    daily_what="：{what}",
    favourites_one="お気に入り1件",
    favourites="お気に入り{n}件",
    boosts_one="ブースト1件",
    boosts="ブースト{n}件",
    and_="、",
    comma="、",
    space="",
    a_human="人間",
    a_person="人物",
    with_tone="{kind}（{tone}）",
    in_style="{what}（{style}風）",
    no_kind="{kind}はまだ描けません。描けるのは{some}などです。",
    no_tone="{tone}の{kind}はまだいません。",
    or_="、",
)

SENTENCES: dict[str, Sentences] = {"en": ENGLISH, "ja": JAPANESE}


def sentences(lang: str) -> Sentences:
    return SENTENCES.get(lang, ENGLISH)


def places(sentence: str) -> set[str]:
    """The {names} a sentence fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(sentence) if name}


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

def reply_text(mention: Mention, drawings: list[Drawing], request: commands.Request,
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


def missing_text(kind: str | None, tone: str | None, drawing: Drawing, lang: str,
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

def daily_text(drawing: Drawing, favourite: Picture | None, lang: str = "en",
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
