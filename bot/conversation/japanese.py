"""The bot's sentences in Japanese.
"""

from __future__ import annotations

from bot.conversation.sentences import Sentences

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
    help_example="濃い肌の建設作業員の{trigger}",
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
