"""Every sentence the bot posts: replies, the notes, the help, the daily post's words.

Kept apart from the decision and the executor so that the voice of the bot is in one place;
each text names the commands as the operator configured them (BOT_COMMANDS).
"""

from __future__ import annotations

from bot import commands
from bot.artist import Drawing, id_ranges
from bot.config import Settings
from bot.platforms.base import Mention
from bot.state import Picture


def _phrase(settings: Settings, command: str) -> str:
    """The first phrase of a command, as the operator configured it."""
    phrases = settings.commands.get(command) or commands.DEFAULT_COMMANDS[command]
    return phrases[0]


def _more(settings: Settings) -> str:
    """The reply's last sentence: what works as a reply to the picture."""
    again, like_this, morph = (_phrase(settings, c) for c in ("again", "variations", "morph"))
    return f"Reply \"{again}\", \"{like_this}\" or \"{morph}\" to it for more."


def reply_text(mention: Mention, drawings: list[Drawing], request: commands.Request,
               settings: Settings) -> str:
    """The words of a picture reply: what it is, and what a reply to it can ask."""
    first = drawings[0]
    if request.command == "variations":
        what = (f"Four more like that one. {_more(settings)} Add 1-4 to pick one, "
                f"like \"{_phrase(settings, 'variations')} 2\".")
        return f"@{mention.author} {what}"
    if request.command == "morph":
        to = f"seed #{first.morph_to}" if first.morph_to is not None else "someone new"
        return f"@{mention.author} From your picture to {to} and back. {_more(settings)}"
    seed = f"from seed #{first.seed_id}" if first.seed_id is not None else "from a random seed"
    return f"@{mention.author} Here is a human, drawn {seed}. {_more(settings)}"


def note_text(mention: Mention, limit: int, minutes: int, asked: int = 1) -> str:
    if asked > 1:
        return (f"@{mention.author} That would be {asked} more pictures, past my limit of "
                f"{limit} per person per hour. Please ask again in about {minutes} minutes.")
    return (f"@{mention.author} You have had {limit} pictures this hour, which is my limit "
            f"per person. Please ask again in about {minutes} minutes.")


def help_text(mention: Mention, settings: Settings) -> str:
    again, like_this, morph, delete = (_phrase(settings, c)
                                       for c in ("again", "variations", "morph", "delete"))
    like = settings.like_phrases[0].replace("{n}", "12")
    return (f"@{mention.author} Reply to one of my pictures with \"{again}\", \"{like_this}\" "
            f"(four), \"{morph}\" (an animation) or \"{delete}\" (yours only). \"{like}\" "
            f"anywhere asks for seed #12; \"{settings.triggers[0]}\" for a new one.")


def unknown_seed_text(mention: Mention, seed_id: int, known: frozenset[int]) -> str:
    ids = sorted(known)
    few = ids[:: max(1, len(ids) // 3)][:3]
    some = ", ".join(f"#{i}" for i in few) or "none yet"
    return (f"@{mention.author} I have no seed #{seed_id}. Try one of mine, like {some} "
            f"(I know {id_ranges(ids)}).")


def daily_text(drawing: Drawing, favourite: Picture | None) -> str:
    """The daily post's words: near yesterday's favourite (with its counts and link) or near a
    good seed."""
    if favourite is None:
        seed = f" (seed #{drawing.seed_id})" if drawing.seed_id is not None else ""
        return f"Today's human{seed}."
    counts = _plural(favourite.favourites, "favourite")
    if favourite.boosts:
        counts += f" and {_plural(favourite.boosts, 'boost')}"
    link = f" {favourite.url}" if favourite.url else ""
    return f"Today's human, drawn near yesterday's favourite picture ({counts}).{link}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
