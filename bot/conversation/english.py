"""The bot's sentences in English: the table the others must fill alike.
"""

from __future__ import annotations

from bot.conversation.sentences import Sentences

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
    help_example="{trigger} of a construction worker with dark skin",
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
