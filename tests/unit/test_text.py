"""Hashtag extraction, canonical keys, tag tokens and text normalisation."""

from __future__ import annotations

import pytest
import regex
from hypothesis import example, given
from hypothesis import strategies as st

from detectors.text import (
    MAX_HASHTAG_LENGTH,
    _surfaces_from,
    canonical_key,
    display_tag,
    extract_hashtags,
    normalize_text,
    tag_tokens,
)
from tests.harness import shared_dir

SEEDS = shared_dir() / "seeds"

# Written by hand from reading the articles, in first-occurrence order.
SEED_HASHTAGS = {
    "000": [
        "مركز_الإعلام_الرقمي",
        "قمةبغداد_استقراروتنمية",
        "برلمانات_دول_جوار_العراق",
        "قمة_بغداد",
        "قمة_بغداد_استقرار_وتنمية",
        "مؤتمر_برلمانات_دول_جوار_العراق",
        "مؤتمر_رؤساء_برلمانات_دول_جوار_العراق",
        "قمةبغداد_استقراروبناء",
    ],
    "001": [],  # its "#2#" has no letter
    "002": [
        "انصروناـبالدعاء",
        "الفلوجة_تتحرر",
        "الفلوجة_محررين_لامعتدين",
        "الفلوجة_تغسل_وجهها",
        "خلية_الدعم_الاعلامي",
    ],
    "003": [],
    "004": [],
}
SEED_KEYS = {
    "000": [
        "مركزالاعلامالرقمي",
        "قمهبغداداستقراروتنميه",
        "برلماناتدولجوارالعراق",
        "قمهبغداد",
        "قمهبغداداستقراروتنميه",
        "مؤتمربرلماناتدولجوارالعراق",
        "مؤتمررؤساءبرلماناتدولجوارالعراق",
        "قمهبغداداستقراروبناء",
    ],
    "001": [],
    "002": [
        "انصرونابالدعاء",
        "الفلوجهتتحرر",
        "الفلوجهمحررينلامعتدين",
        "الفلوجهتغسلوجهها",
        "خليهالدعمالاعلامي",
    ],
    "003": [],
    "004": [],
}

TATWEEL = "\u0640"
ZWNJ = "\u200c"
ZWJ = "\u200d"
HAS_REAL_LETTER = regex.compile(r"[^\P{L}\u0640]")


def read_seed(prefix: str) -> str:
    if not SEEDS.is_dir():
        pytest.skip(f"seed articles not found at {SEEDS}")
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


# --- extract_hashtags -------------------------------------------------------


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        # Arabic harakat, shadda and superscript alef stay in the surface.
        ("بسم #الرَّحْمٰنِ الرحيم", ["الرَّحْمٰنِ"]),
        ("اكد #مركز_الإعلام_الرقمي على", ["مركز_الإعلام_الرقمي"]),
        # Tatweel as a word separator; the Arabic comma ends the tag.
        ("هاشتاك #انصروناـبالدعاء، فقد", ["انصروناـبالدعاء"]),
        # ZWNJ and ZWJ inside a word belong to it.
        (f"#می{ZWNJ}خواهم برم", [f"می{ZWNJ}خواهم"]),
        (f"#لا{ZWJ}حول", [f"لا{ZWJ}حول"]),
        ("＃العراق ＃Iraq", ["العراق", "Iraq"]),
        # Punctuation, Latin and Arabic.
        (
            "#بغداد، #tag! #سؤال؟ #قائمة؛ #end. #a,b #(x) #y:",
            ["بغداد", "tag", "سؤال", "قائمة", "end", "a", "y"],
        ),
        ("(#tag) «#وسم» \"#quoted\"", ["tag", "وسم", "quoted"]),
        # Emoji and other symbols end a tag.
        ("#العراق🇮🇶 #الفلوجة❤️ #x😀y #حب♥", ["العراق", "الفلوجة", "x", "حب"]),
        ("#انتخابات_٢٠٢١ #انتخابات_۲۰۲۱", ["انتخابات_٢٠٢١", "انتخابات_۲۰۲۱"]),
        ("#2021انتخابات #_مرحبا", ["2021انتخابات", "_مرحبا"]),
        # Twitter's rule: a tag needs a letter; tatweel does not count.
        ("#2# #123 #٢٠٢١ #_ #__1 #ـ #ـ١", []),
        # Preceded by a letter, digit, underscore, & or a mark: not a tag.
        ("a#b علي#قمة 1#x _#y &#123; &#x627; بَ#وسم", []),
        # Tags inside URLs are not tags; the rest of the post still counts.
        ("http://x.com/#frag", []),
        ("https://example.com/page#قسم www.site.com/#/home HTTP://X.COM/#Frag", []),
        ("see http://x.com/#frag #real", ["real"]),
        # Without a scheme or www. the URL is not recognised, as on Twitter.
        ("x.com/#frag", ["frag"]),
        # Bidi controls and other invisible controls end or surround a tag.
        ("\u202b#العراق\u202c", ["العراق"]),
        ("#بغداد\u200fاليوم #abc\u200edef", ["بغداد", "abc"]),
        ("\u2067#وسم\u2069 \u202e#abc\u202d #x\u2066y #q\x00z", ["وسم", "abc", "x", "q"]),
        # Another # ends a tag, and one right after a tag's letter is no tag.
        ("#a#b ##tag #c＃d", ["a", "tag", "c"]),
        # Trailing separators are trimmed; leading joiners skipped.
        (f"#قمة_بغداد_ #تاقـ #می{ZWNJ} #{ZWNJ}{ZWJ}foo_{ZWNJ}", ["قمة_بغداد", "تاق", "می", "foo"]),
        # Duplicates by exact surface keep the first; spelling variants stay.
        ("#a #b #a #قمة_بغداد #قمه_بغداد #b", ["a", "b", "قمة_بغداد", "قمه_بغداد"]),
        ("#وسم\n#سطر\t#تاب", ["وسم", "سطر", "تاب"]),
        ("#️⃣ keycap", []),
        ("لا يوجد وسم هنا", []),
        ("", []),
    ],
)
def test_extract_hashtags(post: str, expected: list[str]) -> None:
    assert extract_hashtags(post) == expected


def test_extract_hashtags_drops_overlong_runs() -> None:
    longest = "ب" * MAX_HASHTAG_LENGTH
    assert extract_hashtags(f"#{longest} #{longest}ب #ok") == [longest, "ok"]


# --- canonical_key ----------------------------------------------------------


def test_spelling_variants_share_a_key() -> None:
    variants = ["#قمة_بغداد", "#قمةبغداد", "#قمـة_بغداد", "#قمه_بغداد", "＃قمة_بغداد", "قمة_بغداد"]
    assert {canonical_key(tag) for tag in variants} == {"قمهبغداد"}


@pytest.mark.parametrize(
    ("tag", "key"),
    [
        ("#انصروناـبالدعاء", "انصرونابالدعاء"),
        ("#FooBar", "foobar"),
        ("#foobar", "foobar"),
        ("#STRASSE", "strasse"),
        ("#Straße", "strasse"),
        ("#الرَّحْمٰنِ", "الرحمن"),
        ("#مؤتمرٌ\u06d6", "مؤتمر"),
        ("#انتخابات_٢٠٢١", "انتخابات2021"),
        ("#انتخابات_۲۰۲۱", "انتخابات2021"),
        # Alef with hamza or madda, alef wasla; also written as base + mark.
        ("أحمد", "احمد"),
        ("إحمد", "احمد"),
        ("آحمد", "احمد"),
        ("ٱحمد", "احمد"),
        ("ا\u0654حمد", "احمد"),
        ("ا\u0653حمد", "احمد"),
        ("مصطفى", "مصطفي"),
        # Persian yeh, keheh, heh with yeh above (also as heh + hamza mark).
        ("ایران", "ايران"),
        ("کربلاء", "كربلاء"),
        ("خانۀ", "خانه"),
        ("خانه\u0654", "خانه"),
        (f"#می{ZWNJ}خواهم", "ميخواهم"),
        # Presentation forms and ligatures fold through NFKC.
        ("ﺑﻐﺪﺍﺩ", "بغداد"),
        ("ﻻ", "لا"),
        # Deliberately kept distinct: hamza seats, standalone hamza, Kurdish ە.
        ("مسؤول", "مسؤول"),
        ("مسئول", "مسئول"),
        ("ي\u0654", "ئ"),
        ("سماء", "سماء"),
        ("کوردستانە", "كوردستانە"),
        ("\u200f#وسم\u200e", "وسم"),
        ("##_#وسم", "وسم"),
    ],
)
def test_canonical_key(tag: str, key: str) -> None:
    assert canonical_key(tag) == key


def test_hamza_seats_are_not_merged() -> None:
    assert canonical_key("مسؤول") != canonical_key("مسئول")
    assert canonical_key("سؤال") != canonical_key("سوال")


def test_hot_path_caches_are_bounded() -> None:
    assert canonical_key.cache_info().maxsize == 65536
    assert tag_tokens.cache_info().maxsize == 65536


# --- tag_tokens -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "tokens"),
    [
        ("قمة_بغداد_استقرار_وتنمية", ("قمه", "بغداد", "استقرار", "وتنميه")),
        ("#قمةبغداد_استقراروتنمية", ("قمهبغداد", "استقراروتنميه")),
        ("#انصروناـبالدعاء", ("انصرونا", "بالدعاء")),
        (f"می{ZWNJ}خواهم", ("مي", "خواهم")),
        ("BaghdadSummit", ("baghdad", "summit")),
        ("#HTTPServer_down", ("http", "server", "down")),
        ("Iraq2021Elections", ("iraq2021", "elections")),
        ("__قمة__بغداد_ـ", ("قمه", "بغداد")),
        ("وسم_\u064e_آخر", ("وسم", "اخر")),
        ("", ()),
    ],
)
def test_tag_tokens(tag: str, tokens: tuple[str, ...]) -> None:
    assert tag_tokens(tag) == tokens


# --- normalize_text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("post", "normalized"),
    [
        (
            "عاجل: #قمة_بغداد 🇮🇶 @user_1 https://t.co/x  الإعلامُ!!",
            "عاجل قمه بغداد الاعلام",
        ),
        ("انتخابـــات ٢٠٢١ «مهمّة» جداً…", "انتخابات 2021 مهمه جدا"),
        ("Breaking NEWS, from www.example.com/a?b=1 — now", "breaking news from now"),
        (f"\u202bمی{ZWNJ}خواهم\u202c   ＠someone", "ميخواهم"),
        ("email me at a@b.com", "email me at a b com"),
        ("😀🔥!!!", ""),
    ],
)
def test_normalize_text(post: str, normalized: str) -> None:
    assert normalize_text(post) == normalized


def test_near_duplicate_posts_normalize_equal() -> None:
    original = "الفلوجة تتحرر اليوم #الفلوجة_تتحرر https://t.co/aaa"
    retweeted = "  الفلوجـة تتحرّر اليوم!! 🇮🇶 #الفلوجه_تتحرر @news https://t.co/bbb"
    assert normalize_text(original) == normalize_text(retweeted)


def test_display_tag() -> None:
    assert display_tag("قمة_بغداد") == "#قمة_بغداد"
    assert extract_hashtags(display_tag("قمة_بغداد")) == ["قمة_بغداد"]


# --- seed articles ----------------------------------------------------------


def test_every_seed_article_has_expected_tags() -> None:
    if not SEEDS.is_dir():
        pytest.skip(f"seed articles not found at {SEEDS}")
    assert sorted(path.name[:3] for path in SEEDS.glob("*.txt")) == sorted(SEED_HASHTAGS)


@pytest.mark.parametrize("prefix", sorted(SEED_HASHTAGS))
def test_seed_hashtags(prefix: str) -> None:
    surfaces = extract_hashtags(read_seed(prefix))
    assert surfaces == SEED_HASHTAGS[prefix]
    assert [canonical_key(surface) for surface in surfaces] == SEED_KEYS[prefix]


def test_seed_000_conference_spellings_collapse() -> None:
    surfaces = extract_hashtags(read_seed("000"))
    keys = {canonical_key(surface) for surface in surfaces}
    assert len(surfaces) == 8
    assert len(keys) == 7
    assert canonical_key("قمةبغداد_استقراروتنمية") == canonical_key("قمة_بغداد_استقرار_وتنمية")


# --- properties -------------------------------------------------------------

# Pieces that exercise the edge cases above far more often than random text.
ARABIC_PIECES = [
    *"#＃_ \n،؛؟.!&/:@",
    TATWEEL,
    ZWNJ,
    ZWJ,
    *"ابتةجحدرسعفقكلمنهويىأإآٱؤئءیکۀە",
    *"\u064b\u064e\u0650\u0651\u0652\u0653\u0654\u0655\u0670\u0610\u06d6",
    *"٠١٢٣۴۵0159",
    *"aZbYİß",
    *"\u200e\u200f\u202b\u202e\u2066\u2069\ufe0f\u20e3",
    "🇮🇶",
    "😀",
    "http://x.com/",
    "www.",
]
arabic_text = st.lists(st.sampled_from(ARABIC_PIECES), max_size=80).map("".join)
any_text = st.text(max_size=200) | arabic_text


@given(any_text)
def test_extracted_surfaces_are_well_formed(post: str) -> None:
    surfaces = extract_hashtags(post)
    assert len(surfaces) == len(set(surfaces))
    for surface in surfaces:
        assert HAS_REAL_LETTER.search(surface)
        assert not any(char.isspace() for char in surface)
        assert "#" not in surface and "＃" not in surface
        assert 0 < len(surface) <= MAX_HASHTAG_LENGTH
        assert not surface.endswith(("_", TATWEEL, ZWNJ, ZWJ))
        assert regex.search(f"[#＃][{ZWNJ}{ZWJ}]*{regex.escape(surface)}", post)


@given(any_text)
@example("www.x.com/#frag #real")
@example("أخبار https://t.co/a#b #وسم")
@example("نص http:/#x. #y")
@example("a.b #c ＃d")
@example("نص ＃وسم #tag")
@example("HTTPſ://x/#frag #ok")
def test_extraction_from_the_first_hash_finds_what_a_full_scan_finds(post: str) -> None:
    # extract_hashtags starts the regex at the first # unless a URL could
    # start before it
    assert extract_hashtags(post) == _surfaces_from(post, 0)


@given(any_text)
# Dropping the mark leaves Hangul jamo (or an Indic vowel pair) adjacent, and
# they compose only on a second NFKC pass.
@example("\u1100\u0301\u1161")
@example("\u0b47\u0b3c\u0b3e")
def test_canonical_key_is_idempotent(tag: str) -> None:
    key = canonical_key(tag)
    assert canonical_key(key) == key


@given(any_text)
def test_canonical_key_ignores_a_leading_hash(tag: str) -> None:
    assert canonical_key("#" + tag) == canonical_key("＃" + tag) == canonical_key(tag)


TAG_PIECES = [piece for piece in ARABIC_PIECES if piece not in "#＃"]


@given(st.lists(st.sampled_from(TAG_PIECES), max_size=40).map("".join))
def test_tag_tokens_partition_the_key(tag: str) -> None:
    assert "".join(tag_tokens(tag)) == canonical_key(tag)


@given(any_text)
def test_normalize_text_is_clean(post: str) -> None:
    normalized = normalize_text(post)
    assert normalized == " ".join(normalized.split())
    assert not regex.search(r"[#@_\u0640\p{Mn}\p{Cf}\p{P}\p{So}]", normalized)


@given(arabic_text)
def test_normalize_text_is_idempotent(post: str) -> None:
    normalized = normalize_text(post)
    assert normalize_text(normalized) == normalized
