"""The records that flow between Rasd's stages.

``Post`` is a validated input post; ``parse_post`` turns raw bytes into one or
raises ``InvalidPost`` with a bounded ``reason`` (used as a metric label) and a
readable ``detail``.  ``TagHit`` is what the ingest stage forwards per
(post, hashtag); ``TagMinute`` is what the tag stage reports per closed minute
of an active tag; ``PlatformMinute`` is one shard's per-minute post count of a
platform.  All are plain slotted dataclasses with compact ``to_wire`` /
``from_wire`` forms so the Kafka pipeline and the in-process backtest carry
exactly the same values.

>>> p = parse_post(b'{"id":"1","platform":"Twitter","author":"a",'
...                b'"created_at":"2016-05-23T06:00:05","text":"hi #Test_Tag"}')
>>> p.platform, p.created_at, [(h.surface, h.key) for h in p.tags]
('twitter', 1463983205.0, [('Test_Tag', 'testtag')])
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone

import orjson

from detectors.text import canonical_key, extract_hashtags

MAX_MESSAGE_BYTES = 64 * 1024
MAX_HASHTAGS = 64
MAX_ID_CHARS = 256
MAX_TEXT_CHARS_FORWARDED = 512
MIN_EVENT_TIME = datetime(2006, 1, 1, tzinfo=timezone.utc).timestamp()
MAX_FUTURE_SKEW_SECONDS = 600.0

DLQ_REASONS = (
    "invalid_utf8", "invalid_json", "not_an_object", "missing_field", "invalid_field",
    "invalid_time", "time_out_of_range", "too_large", "too_many_hashtags",
)


class InvalidPost(ValueError):
    """A post that cannot be processed; ``reason`` is one of ``DLQ_REASONS``."""

    def __init__(self, reason: str, detail: str):
        assert reason in DLQ_REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True, frozen=True)
class Tag:
    surface: str
    key: str


@dataclass(slots=True)
class Post:
    id: str
    platform: str
    author: str
    created_at: float
    text: str
    tags: tuple[Tag, ...]
    author_created_at: float | None = None
    lang: str | None = None
    repost_of: str | None = None

    # Written out, not generated: mypyc compiles a native class's own __init__,
    # but the one @dataclass generates stays interpreted (~0.1 us more per
    # record, one per post and hit).  Same for TagHit and TagMinute.
    def __init__(self, id: str, platform: str, author: str, created_at: float, text: str,
                 tags: tuple[Tag, ...], author_created_at: float | None = None, lang: str | None = None,
                 repost_of: str | None = None) -> None:
        self.id = id
        self.platform = platform
        self.author = author
        self.created_at = created_at
        self.text = text
        self.tags = tags
        self.author_created_at = author_created_at
        self.lang = lang
        self.repost_of = repost_of


def parse_time(value: object, field_name: str) -> float:
    """ISO-8601 to unix seconds; naive times are UTC.

    >>> parse_time("2016-05-22T23:59:59Z", "t") == parse_time("2016-05-23T02:59:59+03:00", "t")
    True
    """
    if not isinstance(value, str):
        raise InvalidPost("invalid_time", f"{field_name} must be an ISO-8601 string, got {type(value).__name__}")
    try:
        return _iso_seconds(value)
    except ValueError:
        raise InvalidPost("invalid_time", f"{field_name} is not ISO-8601: {value[:64]!r}") from None


def _iso_seconds(value: str) -> float:
    # Nearly every time is UTC to the second ("2016-05-22T23:59:59Z"): read in
    # compiled integer arithmetic (~1 400 instructions against ~3 900 through
    # datetime).  Any other form, or a field out of range, goes through
    # datetime, which accepts or rejects it.
    if len(value) == 20 and value[19] == "Z" and value[10] == "T" and value[13] == ":" \
            and value[16] == ":" and value[4] == "-" and value[7] == "-":
        century, year = _two_digits(value, 0), _two_digits(value, 2)
        month, day = _two_digits(value, 5), _two_digits(value, 8)
        hours, minutes, seconds = _two_digits(value, 11), _two_digits(value, 14), _two_digits(value, 17)
        if century >= 0 and year >= 0 and 0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 60:
            year += 100 * century
            if year >= 1 and 1 <= month <= 12 and 1 <= day <= _days_in_month(year, month):
                return _days_since_epoch(year, month, day) * 86400.0 + hours * 3600.0 + minutes * 60.0 + seconds
    return _datetime_seconds(value)


def _two_digits(text: str, at: int) -> int:
    """The ASCII digits at ``text[at:at + 2]`` as a number, or -1."""
    tens, ones = ord(text[at]) - 48, ord(text[at + 1]) - 48
    if 0 <= tens <= 9 and 0 <= ones <= 9:
        return tens * 10 + ones
    return -1


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    if month <= 2:
        year -= 1
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


# A feed that writes another form (an offset, fractions) writes it on every
# post, and most posts share their second with the one before.
@functools.lru_cache(maxsize=4096)
def _datetime_seconds(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(_lenient_iso(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _lenient_iso(value: str) -> str:
    """ISO-8601 with surrounding blanks or a lower-case "z", as fromisoformat reads it."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return text


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _required_str(data: dict, name: str, max_chars: int) -> str:
    value = data.get(name)
    if value.__class__ is str and 0 < len(value) <= max_chars and not value.isspace():
        return value  # the common case, without stripping a copy
    if value is None:
        raise InvalidPost("missing_field", f"required field {name!r} is missing")
    if not isinstance(value, str) or not value.strip():
        raise InvalidPost("invalid_field", f"{name!r} must be a non-empty string")
    if len(value) > max_chars:
        raise InvalidPost("invalid_field", f"{name!r} is longer than {max_chars} characters")
    return value


def _optional_str(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPost("invalid_field", f"{name!r} must be a string")
    return value[:MAX_ID_CHARS] or None


@functools.lru_cache(maxsize=1024)
def _platform_name(value: str) -> str:
    platform = value.strip().lower()
    if not platform.replace("_", "").replace("-", "").replace(".", "").isalnum() or not platform.isascii():
        raise InvalidPost("invalid_field", "'platform' must be an ASCII name like 'twitter'")
    return platform


@functools.lru_cache(maxsize=16384)
def _tag_of(surface: str) -> Tag | None:
    """A surface with its canonical key (None if it has none); trending tags
    come back again and again, so this is a cache hit almost always (99.3 % on
    the bench's quiet day, 6 116 distinct surfaces, from 2 048 entries up).  An
    entry costs ~400 bytes: 65 536 of them were 25 MiB of a worker's memory."""
    key = canonical_key(surface)
    return Tag(surface, key) if key else None


def parse_post(raw: bytes | str, now: float | None = None) -> Post:
    """Validate one raw message.  ``now`` (wall-clock unix seconds), when given,
    rejects posts dated more than ``MAX_FUTURE_SKEW_SECONDS`` in the future: one
    such post would otherwise drag the event-time watermark forward and close
    every open window early."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidPost("too_large", f"message is {len(raw)} bytes, limit {MAX_MESSAGE_BYTES}")
    try:
        data = orjson.loads(raw)  # validates UTF-8 itself: no separate decode on the hot path
    except orjson.JSONDecodeError as exc:
        if isinstance(raw, (bytes, bytearray, memoryview)):
            try:
                bytes(raw).decode("utf-8")
            except UnicodeDecodeError as bad:
                raise InvalidPost("invalid_utf8", f"not UTF-8 at byte {bad.start}") from None
        raise InvalidPost("invalid_json", str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise InvalidPost("not_an_object", f"expected a JSON object, got {type(data).__name__}")

    post_id = _required_str(data, "id", MAX_ID_CHARS)
    platform = _platform_name(_required_str(data, "platform", 64))
    author = _required_str(data, "author", MAX_ID_CHARS)
    if "created_at" not in data:
        raise InvalidPost("missing_field", "required field 'created_at' is missing")
    created_at = parse_time(data["created_at"], "created_at")
    if created_at < MIN_EVENT_TIME or not math.isfinite(created_at):
        raise InvalidPost("time_out_of_range", f"created_at {data['created_at']!r} is before 2006")
    if now is not None and created_at > now + MAX_FUTURE_SKEW_SECONDS:
        raise InvalidPost("time_out_of_range", f"created_at {data['created_at']!r} is in the future")
    text = data.get("text")
    if text is None:
        raise InvalidPost("missing_field", "required field 'text' is missing")
    if not isinstance(text, str):
        raise InvalidPost("invalid_field", "'text' must be a string")

    author_created_at = None
    if data.get("author_created_at") is not None:
        author_created_at = parse_time(data["author_created_at"], "author_created_at")

    surfaces = extract_hashtags(text)
    extra = data.get("hashtags")
    if extra is not None:
        if not isinstance(extra, list) or not all(isinstance(h, str) for h in extra):
            raise InvalidPost("invalid_field", "'hashtags' must be a list of strings")
        if len(extra) > MAX_HASHTAGS:
            raise InvalidPost("too_many_hashtags", f"{len(extra)} hashtags listed, limit {MAX_HASHTAGS}")
        for listed in extra:
            # a listed tag obeys the same rules as one written in the text
            surfaces.extend(extract_hashtags(listed if listed.startswith(("#", "＃")) else "#" + listed))
    tags: dict[str, Tag] = {}
    for surface in surfaces:
        tag = _tag_of(surface)
        if tag is not None and tag.key not in tags:
            tags[tag.key] = tag
    if len(tags) > MAX_HASHTAGS:
        raise InvalidPost("too_many_hashtags", f"{len(tags)} distinct hashtags, limit {MAX_HASHTAGS}")

    return Post(post_id, platform, author, created_at, text, tuple(tags.values()), author_created_at,
                _optional_str(data, "lang"), _optional_str(data, "repost_of"))


@dataclass(slots=True)
class TagHit:
    """One (post, tag) pair, keyed by ``key``.  ``source`` and ``offset`` name the
    post's position in its input stream (partition, offset) so a replayed hit is
    recognised and not counted twice."""

    key: str
    surface: str
    post_id: str
    author: str
    created_at: float
    platform: str
    text: str
    cotags: tuple[str, ...] = ()
    author_created_at: float | None = None
    repost_of: str | None = None
    source: int = 0
    offset: int = -1

    def __init__(self, key: str, surface: str, post_id: str, author: str, created_at: float,
                 platform: str, text: str, cotags: tuple[str, ...] = (),
                 author_created_at: float | None = None, repost_of: str | None = None,
                 source: int = 0, offset: int = -1) -> None:
        self.key = key
        self.surface = surface
        self.post_id = post_id
        self.author = author
        self.created_at = created_at
        self.platform = platform
        self.text = text
        self.cotags = cotags
        self.author_created_at = author_created_at
        self.repost_of = repost_of
        self.source = source
        self.offset = offset

    def to_fields(self) -> list:
        return [self.key, self.surface, self.post_id, self.author, self.created_at, self.platform,
                self.text, self.cotags, self.author_created_at, self.repost_of, self.source, self.offset]

    def to_wire(self) -> bytes:
        return orjson.dumps(self.to_fields())

    @classmethod
    def from_wire(cls, raw: bytes) -> "TagHit":
        return cls.from_fields(orjson.loads(raw))

    @classmethod
    def from_fields(cls, fields: list) -> "TagHit":
        (key, surface, post_id, author, created_at, platform, text, cotags,
         author_created_at, repost_of, source, offset) = fields
        return cls(key, surface, post_id, author, created_at, platform, text, tuple(cotags),
                   author_created_at, repost_of, source, offset)


def hits_of(post: Post, source: int = 0, offset: int = -1) -> list[TagHit]:
    """The tag hits of a post, each naming the post's other tags (capped)."""
    if not post.tags:
        return []
    keys = tuple([t.key for t in post.tags])
    text = post.text[:MAX_TEXT_CHARS_FORWARDED]
    # positional: keyword construction costs a third more, once per (post, tag)
    return [
        TagHit(t.key, t.surface, post.id, post.author, post.created_at, post.platform, text,
               (keys[:i] + keys[i + 1:])[:10], post.author_created_at, post.repost_of, source, offset)
        for i, t in enumerate(post.tags)
    ]


@dataclass(slots=True)
class TagMinute:
    """Summary of one closed minute of one active tag, as seen by the tag stage.

    ``author_hashes`` is the tag's K-minimum-values author sketch for the minute
    (see ``detectors.windows.KMV``): enough to estimate author-set overlap between
    tags without shipping author lists.  ``coordination`` holds the campaign
    signals, computed only for surging tags (``None`` otherwise)."""

    key: str
    display: str
    minute: float
    posts: int
    authors: int
    expected: float
    score: float
    surging: bool
    firing: bool
    surfaces: list[tuple[str, int]] = field(default_factory=list)
    top_authors: list[tuple[str, int]] = field(default_factory=list)
    author_hashes: list[int] = field(default_factory=list)
    sample_post_ids: list[str] = field(default_factory=list)
    cotags: list[tuple[str, int]] = field(default_factory=list)
    coordination: dict | None = None

    def __init__(self, key: str, display: str, minute: float, posts: int, authors: int, expected: float,
                 score: float, surging: bool, firing: bool, surfaces: list[tuple[str, int]] | None = None,
                 top_authors: list[tuple[str, int]] | None = None, author_hashes: list[int] | None = None,
                 sample_post_ids: list[str] | None = None, cotags: list[tuple[str, int]] | None = None,
                 coordination: dict | None = None) -> None:
        self.key = key
        self.display = display
        self.minute = minute
        self.posts = posts
        self.authors = authors
        self.expected = expected
        self.score = score
        self.surging = surging
        self.firing = firing
        self.surfaces = surfaces if surfaces is not None else []
        self.top_authors = top_authors if top_authors is not None else []
        self.author_hashes = author_hashes if author_hashes is not None else []
        self.sample_post_ids = sample_post_ids if sample_post_ids is not None else []
        self.cotags = cotags if cotags is not None else []
        self.coordination = coordination

    def to_wire(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in TAG_MINUTE_FIELDS})

    @classmethod
    def from_wire(cls, raw: bytes) -> "TagMinute":
        return cls.from_dict(orjson.loads(raw))

    @classmethod
    def from_dict(cls, data: dict) -> "TagMinute":
        for name in ("surfaces", "top_authors", "cotags"):
            data[name] = [tuple(pair) for pair in data[name]]
        return cls(**data)


# (a compiled dataclass has no ``__slots__`` to list them)
TAG_MINUTE_FIELDS = tuple(f.name for f in fields(TagMinute))


@dataclass(slots=True)
class PlatformMinute:
    """Posts of one platform in one closed minute, from one counting shard."""

    platform: str
    minute: float
    posts: int
    authors: int
    shard: str

    def to_wire(self) -> bytes:
        return orjson.dumps([self.platform, self.minute, self.posts, self.authors, self.shard])

    @classmethod
    def from_wire(cls, raw: bytes) -> "PlatformMinute":
        return cls(*orjson.loads(raw))
