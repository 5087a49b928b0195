"""Hashtag extraction and text normalisation for Arabic social media.

Pure Python on the hot path of every stream processor: patterns are compiled
once, and the per-tag functions are memoised in bounded caches because a
trending tag arrives again and again.

Letter folding, shared by :func:`canonical_key`, :func:`tag_tokens` and
:func:`normalize_text`, runs after NFKC so hamza and madda written as
combining marks (ا + U+0654) fold exactly like the precomposed letter (أ):

* folded: أ إ آ ٱ ٲ ٳ → ا; ى and Persian ی → ي; ة and Persian ۀ → ه;
  Persian ک → ك; Arabic-Indic ٠-٩ and Extended Arabic-Indic ۰-۹ → 0-9.
  People mix these spellings of one word freely, in tags above all.
* kept: ؤ ئ ء. Hamza on waw or ya is a spelling of its own, and the real
  variation (مسؤول / مسئول) is between the two seats, which folding each to
  its bare letter would not unify, while it would merge different words.
* kept: Kurdish ە (U+06D5): in Sorani it is the vowel "e", not a heh.
* dropped: every nonspacing mark left after NFKC (harakat, shadda,
  superscript alef, Quranic signs; precomposed Latin letters such as é keep
  their accent), tatweel, ZWNJ, ZWJ and other invisible format characters.

>>> [canonical_key(tag) for tag in extract_hashtags("#قمة_بغداد و #قمـه_بغداد")]
['قمهبغداد', 'قمهبغداد']
"""

from __future__ import annotations

import functools
import unicodedata

import regex

__all__ = [
    "MAX_HASHTAG_LENGTH",
    "canonical_key",
    "display_tag",
    "extract_hashtags",
    "normalize_text",
    "tag_tokens",
]

# A real tag is never this long; longer runs are spam or glued text, so they
# are dropped rather than truncated into a tag nobody wrote.
MAX_HASHTAG_LENGTH = 100

# Scheme or www URLs are consumed whole, so a fragment such as
# http://x.com/#frag never yields a tag (Twitter would take it). A bare
# domain (x.com/#frag) is not recognised: its fragment counts, as on Twitter.
_URL = r"(?i:(?:https?://|www\.)\S+)"

# Group 1 is the tag body, after any joiners stuck to the #: optional leading
# digits, marks, underscores and tatweel, then a letter other than tatweel
# (which Unicode counts as a letter), then letters, marks, digits,
# underscores, ZWNJ and ZWJ. Anything else (space, punctuation, emoji, bidi
# controls, another #) ends the tag.
_HASHTAG_OR_URL = regex.compile(
    _URL
    + r"|(?<![\p{L}\p{M}\p{Nd}_&])[#＃][\u200c\u200d]*+"
    r"([\p{Mn}\p{Mc}\p{Nd}_\u0640\u200c\u200d]*+[^\P{L}\u0640]"
    r"[\p{L}\p{Mn}\p{Mc}\p{Nd}_\u200c\u200d]*+)"
)
_TAG_TRAILING_FILLER = "_\u0640\u200c\u200d"

# Pairs, not a str.translate table: translate walks non-ASCII text one dict
# lookup per character (~10x slower on a post than these C-level scans).
_LETTER_FOLDS = (
    *((variant, "ا") for variant in "أإآٱٲٳ"),
    *((variant, "ي") for variant in "ىی"),
    *((variant, "ه") for variant in "ةۀ"),
    ("ک", "ك"),
    *((chr(0x0660 + digit), str(digit)) for digit in range(10)),
    *((chr(0x06F0 + digit), str(digit)) for digit in range(10)),
)
_KEY_INVISIBLE = regex.compile(r"[\p{Mn}\p{Cf}\u0640_]+")
_TEXT_INVISIBLE = regex.compile(r"[\p{Mn}\p{Cf}\u0640]+")
_TEXT_NOISE = regex.compile(_URL + r"|(?<![\p{L}\p{N}_])@\w+|[^\p{L}\p{N}\p{Mc}\s]+")
# Tatweel is a word separator only after a letter that cannot join to the left
# (#انصروناـبالدعاء); after a joining letter it is decorative kashida (#قمـة).
_TOKEN_BOUNDARY = regex.compile(
    r"[_\u200c\u200d]+"
    r"|(?<=[\u0622\u0623\u0624\u0625\u0627\u0629\u062f\u0630\u0631\u0632\u0648\u0671\u0698]\p{M}*)\u0640+"
    r"|(?<=[\p{Ll}\p{Nd}]\p{M}*)(?=\p{Lu})"  # fooBar, 2021Iraq
    r"|(?<=\p{Lu})(?=\p{Lu}\p{Ll})"  # HTTPServer
)


def extract_hashtags(text: str) -> list[str]:
    """Hashtag surfaces in ``text``, without the ``#``, first occurrence first.

    A tag needs a letter, so ``#2021`` is not one; ``a#b`` and ``&#123;`` are
    not tags either, and tags inside URLs are ignored.

    >>> extract_hashtags("#العراق🇮🇶 #الفلوجة_تتحرر، ＃Iraq #2# #العراق")
    ['العراق', 'الفلوجة_تتحرر', 'Iraq']
    """
    start = _scan_start(text)
    return _surfaces_from(text, start) if start >= 0 else []


def _surfaces_from(text: str, start: int) -> list[str]:
    """The tags ``_HASHTAG_OR_URL`` finds trying every position from ``start``."""
    surfaces: dict[str, None] = {}
    for body in _HASHTAG_OR_URL.findall(text, start):
        # An empty body is a URL match.
        surface = body.rstrip(_TAG_TRAILING_FILLER)
        if surface and len(surface) <= MAX_HASHTAG_LENGTH:
            surfaces.setdefault(surface, None)
    return list(surfaces)


def _scan_start(text: str) -> int:
    """Where ``_HASHTAG_OR_URL`` can first match in ``text`` (-1: nowhere).

    Nothing matches before the first ``#``, unless a URL starts before it
    and runs on over it: its prefix (``http://``, ``https://``, ``www.``)
    then lies wholly before that ``#``, so a ``.`` or ``//`` would too.  A
    post's tags mostly come after its words: skipping the words saves the
    regex a fifth of its time on a post with a tag."""
    first = text.find("#")
    wide = text.find("＃")
    if first < 0 or 0 <= wide < first:
        first = wide
    if first > 0 and (text.find(".", 0, first) >= 0 or text.find("//", 0, first) >= 0):
        return 0
    return first


def _fold_letters(text: str) -> str:
    for variant, letter in _LETTER_FOLDS:
        if variant in text:
            text = text.replace(variant, letter)
    return text


def _fold(text: str) -> str:
    # NFKC first so presentation forms, full-width ＃ and hamza written as a
    # combining mark are in composed form before marks are dropped; NFKC
    # again because dropping a mark can leave a composable pair adjacent.
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = unicodedata.normalize("NFKC", _KEY_INVISIBLE.sub("", folded))
    return _fold_letters(folded).lstrip("#")


@functools.lru_cache(maxsize=65536)
def canonical_key(tag: str) -> str:
    """The key that all spellings of one hashtag share; a leading # is ignored.

    >>> canonical_key("#قمـة_بغداد") == canonical_key("قمه_بغداد") == "قمهبغداد"
    True
    >>> canonical_key("＃انتخابات_٢٠٢١"), canonical_key("#BaghdadSummit")
    ('انتخابات2021', 'baghdadsummit')
    """
    return _fold(tag)


@functools.lru_cache(maxsize=65536)
def tag_tokens(tag: str) -> tuple[str, ...]:
    """Canonical words of a tag, split on ``_``, ZWNJ, CamelCase and a tatweel
    that separates words (not one that only stretches a letter).

    >>> tag_tokens("#قمة_بغداد_استقرار_وتنمية")
    ('قمه', 'بغداد', 'استقرار', 'وتنميه')
    >>> tag_tokens("BaghdadSummit")
    ('baghdad', 'summit')
    >>> tag_tokens("قمـة_بغداد"), tag_tokens("انصروناـبالدعاء")
    (('قمه', 'بغداد'), ('انصرونا', 'بالدعاء'))
    """
    return tuple(
        token for part in _TOKEN_BOUNDARY.split(tag) if (token := _fold(part))
    )


def normalize_text(text: str) -> str:
    """Post text reduced to folded words, for near-duplicate detection.

    URLs, @mentions, punctuation, emoji and symbols go; a hashtag keeps its
    words, with ``#`` and underscores turned into spaces.

    >>> normalize_text("عاجل: #قمة_بغداد 🇮🇶 @user https://t.co/x  الإعلامُ!!")
    'عاجل قمه بغداد الاعلام'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _TEXT_NOISE.sub(" ", _TEXT_INVISIBLE.sub("", text))
    return " ".join(_fold_letters(text).split())


def display_tag(surface: str) -> str:
    """A surface as people write it.

    >>> display_tag("قمة_بغداد")
    '#قمة_بغداد'
    """
    return "#" + surface
