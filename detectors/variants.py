"""Hashtag variant groups and the ``fragmentation`` alert.

An official tag fails to trend when its audience scatters over spellings of
it: the parliament's own account used seven tags for one summit.  Platforms
count each written form (underscores and letters included) as its own tag, so
volume is measured per *surface*; grouping works on canonical keys.

Two keys are variants when, on their canonical tokens (concatenated tokens are
re-split with the words other tags spell out, because people glue words
inconsistently), they share a contiguous phrase of at least two words that is
not made only of generic words and that carries most of the shorter tag's
IDF-weighted mass; or when they are long keys a typo apart (numbers excepted:
they tell events apart).  Co-use by the same authors over the window lifts a
borderline pair, never links one alone.  Groups are stars: a key joins an
anchor (official tags first, then by volume) only if it is similar to the
anchor itself, so no chain of weak links can merge unrelated tags.

>>> from detectors.records import TagMinute
>>> def used(tag, posts, minute):
...     return TagMinute(key=canonical_key(tag), display=tag, minute=minute, posts=posts,
...                      authors=posts, expected=0.0, score=0.0, surging=False, firing=False,
...                      surfaces=[(tag[1:], posts)])
>>> grouper = VariantGrouper(["#قمة_بغداد_للتنمية"],
...                          VariantConfig(sustain_minutes=2, min_group_posts=10))
>>> for minute in (0.0, 60.0):
...     alerts = grouper.on_minute(minute, [used("#قمة_بغداد_للتنمية", 2, minute),
...                                         used("#قمة_بغداد", 9, minute),
...                                         used("#امن_بغداد", 9, minute)])
>>> [(a.kind, a.subject, round(a.observed, 2), a.related) for a in alerts]
[('fragmentation', '#قمة_بغداد_للتنمية', 0.18, ['#قمة_بغداد'])]
"""
from __future__ import annotations

import functools
import heapq
import math
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, cast

import regex

from detectors.alerts import Alert, Episode
from detectors.records import TagMinute
from detectors.text import canonical_key, tag_tokens
from detectors.windows import KMV, MINUTE, jaccard

__all__ = ["VariantConfig", "VariantGrouper"]

_GRAM = 4  # character n-gram length of the candidate index
_MIN_PIECE = 3  # shortest word used to re-split glued tokens; shorter ones split real words
_BLOCK_MINUTES = 10  # author sketches kept per block, not per minute: 10x less state
_AUTHORS_PER_BLOCK = 32
_SURFACES_PER_MINUTE = 8
_DIGITS = regex.compile(r"\d+")


@dataclass(slots=True)
class VariantConfig:
    window_minutes: int = 30  # volume, shares and co-use are measured over this window
    max_tags: int = 5000  # lowest-volume tags are evicted beyond this
    similarity: float = 0.5  # pair similarity needed to join an anchor's group
    min_shared_tokens: int = 2  # a single shared word is never enough
    spelling_similarity: float = 0.8  # similarity of keys a typo apart
    co_use_weight: float = 0.2  # author Jaccard over the window adds at most this
    generic_min_df: int = 20  # a token in this many tags (and generic_fraction of all) is generic
    generic_fraction: float = 0.02
    max_gram_postings: int = 256  # n-grams in more keys than this do not generate candidates
    max_candidates: int = 200
    share_threshold: float = 0.4  # official share below this is fragmentation
    recover_margin: float = 0.1  # resolving needs the share back above threshold + margin
    sustain_minutes: int = 10
    resolve_minutes: int = 3
    min_group_posts: int = 20  # group tag uses in the window for the group to count as active
    top_accounts: int = 10


@functools.lru_cache(maxsize=65536)
def _surface_id(surface: str) -> str:
    # What a platform treats as one tag: case-insensitive, every letter and underscore counts.
    return unicodedata.normalize("NFC", surface.lstrip("#＃")).casefold()


@functools.lru_cache(maxsize=65536)
def _tokens_of(display: str) -> tuple[str, ...]:
    return tag_tokens(display.lstrip("#＃")) or (canonical_key(display),)


@functools.lru_cache(maxsize=65536)
def _keeps_words_whole(surface: str) -> bool:
    # asked for every surface of a tag each minute it is used
    return min(map(len, _tokens_of(surface))) >= 2


def _grams(key: str) -> set[str]:
    if len(key) <= _GRAM:
        return {key}
    return {key[i:i + _GRAM] for i in range(len(key) - _GRAM + 1)}


def _longest_common_run(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment (Damerau-Levenshtein) distance, or ``limit + 1`` once exceeded."""
    before, previous = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if before is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


class _Tag:
    """One canonical key's window: posts per minute and per surface, author blocks."""

    __slots__ = ("key", "tokens", "minutes", "posts", "surfaces", "blocks")

    def __init__(self, key: str, tokens: tuple[str, ...]):
        self.key = key
        self.tokens = tokens
        self.minutes: deque[list] = deque()  # [minute, posts, [[surface, count], ...]]
        self.posts = 0
        self.surfaces: dict[str, list] = {}  # surface id -> [surface as written, posts]
        self.blocks: deque[list] = deque()  # [block start, author hashes, {author: posts}]

    def add_minute(self, minute: float, posts: int, surfaces: list[list]) -> None:
        self.minutes.append([minute, posts, surfaces])
        self.posts += posts
        for surface, count in surfaces:
            entry = self.surfaces.setdefault(_surface_id(surface), [surface, 0])
            entry[1] += count

    def add_authors(self, minute: float, hashes: list[int], top_authors) -> None:
        start = minute - minute % (_BLOCK_MINUTES * MINUTE)
        if not self.blocks or self.blocks[-1][0] != start:
            self.blocks.append([start, [], {}])
        block = self.blocks[-1]
        KMV(hashes=block[1]).add_hashes(hashes)
        authors = block[2]
        for author, count in top_authors:
            authors[author] = authors.get(author, 0) + count
        if len(authors) > _AUTHORS_PER_BLOCK:
            # heapq.nlargest's order (ties as inserted), but a compiled sort: its
            # Python-level heap was a per-summary cost
            block[2] = dict(sorted(authors.items(), key=lambda kv: kv[1], reverse=True)[:_AUTHORS_PER_BLOCK])

    def expire(self, horizon: float) -> None:
        while self.minutes and self.minutes[0][0] < horizon:
            _, posts, surfaces = self.minutes.popleft()
            self.posts -= posts
            for surface, count in surfaces:
                sid = _surface_id(surface)
                self.surfaces[sid][1] -= count
                if self.surfaces[sid][1] <= 0:
                    del self.surfaces[sid]
        while self.blocks and self.blocks[0][0] + _BLOCK_MINUTES * MINUTE <= horizon:
            self.blocks.popleft()

    def next_expiry(self) -> tuple[float, bool] | None:
        """When ``expire`` next has work: (time, strict) for the oldest minute,
        which leaves once the horizon passes its start, or the oldest author
        block, which leaves once the horizon reaches its end."""
        due = []
        if self.minutes:
            due.append((self.minutes[0][0], True))
        if self.blocks:
            due.append((self.blocks[0][0] + _BLOCK_MINUTES * MINUTE, False))
        return min(due, default=None)

    def author_hashes(self) -> list[int]:
        merged = KMV()
        for _, hashes, _ in self.blocks:
            merged.add_hashes(hashes)
        return merged.hashes

    def display(self) -> str:
        if not self.surfaces:
            return "#" + self.key
        return "#" + max(self.surfaces.values(), key=lambda e: (e[1], e[0]))[0]


class VariantGrouper:
    """Groups spelling variants of hashtags and watches the official tags' shares."""

    def __init__(self, official: Iterable[str] = (), config: VariantConfig | None = None):
        self.config = config or VariantConfig()
        self.official = {canonical_key(t): "#" + t.lstrip("#＃") for t in official}
        self.minute: float | None = None
        self._tags: dict[str, _Tag] = {}
        self._df: Counter[str] = Counter()  # token -> number of keys whose tokens hold it
        self._grams: dict[str, set[str]] = {}
        self._vocab_version = 0  # bumped when the token vocabulary changes
        self._pieces: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._episodes: dict[str, Episode] = {}
        # (time, strict, key) from _Tag.next_expiry: the tags a minute must expire
        # (an entry may be stale; visiting a tag early is harmless)
        self._expiry: list[tuple[float, bool, str]] = []
        for key, display in self.official.items():
            if key:
                self._tag(key, display)

    # --- ingest and bounded state ---------------------------------------------------

    def on_minute(self, minute: float, summaries: list[TagMinute]) -> list[Alert]:
        """Fold in one closed minute's tag summaries; returns fragmentation alerts."""
        self.minute = minute
        due = set()
        for s in summaries:
            if s.key:
                self._ingest(minute, s)
                due.add(s.key)
        horizon = minute - (self.config.window_minutes - 1) * MINUTE
        expiry = self._expiry
        while expiry and (expiry[0][0] < horizon or (expiry[0][0] == horizon and not expiry[0][1])):
            due.add(heapq.heappop(expiry)[2])
        for key in sorted(due):
            tag = self._tags.get(key)
            if tag is None:  # evicted
                continue
            tag.expire(horizon)
            if tag.posts <= 0 and key not in self.official:
                self._remove(key)
            else:
                self._schedule_expiry(tag)
        self._evict()
        return self._check_officials(minute)

    def _ingest(self, minute: float, s: TagMinute) -> None:
        tag = self._tag(s.key, s.display)
        surfaces: list[list[Any]] = [[surface.lstrip("#＃"), count]
                                     for surface, count in s.surfaces[:_SURFACES_PER_MINUTE] if count > 0]
        unattributed = s.posts - sum(count for _, count in surfaces)
        if unattributed > 0:
            surfaces.append([s.display.lstrip("#＃"), unattributed])
        tag.add_minute(minute, s.posts, surfaces)
        tag.add_authors(minute, s.author_hashes, s.top_authors)
        self._retokenise(tag)

    def _schedule_expiry(self, tag: _Tag) -> None:
        due = tag.next_expiry()
        if due is not None:
            heapq.heappush(self._expiry, (*due, tag.key))

    def _retokenise(self, tag: _Tag) -> None:
        # The spelling most people use decides where words break: one user's
        # #العر_اق must not cut العراق in two.
        spellings = [(_keeps_words_whole(surface), posts, surface) for surface, posts in tag.surfaces.values()]
        display = "#" + max(spellings)[2] if spellings else self.official.get(tag.key, "#" + tag.key)
        tokens = _tokens_of(display)
        if tokens != tag.tokens:
            self._set_tokens(tag, tokens)

    def _tag(self, key: str, display: str) -> _Tag:
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = _Tag(key, ())
            self._set_tokens(tag, _tokens_of(display))
            for gram in _grams(key):
                self._grams.setdefault(gram, set()).add(key)
        return tag

    def _set_tokens(self, tag: _Tag, tokens: tuple[str, ...]) -> None:
        old, new = set(tag.tokens), set(tokens)
        for token in old - new:
            self._df[token] -= 1
            if not self._df[token]:
                del self._df[token]
                self._vocab_version += 1
        for token in new - old:
            if token not in self._df:
                self._vocab_version += 1
            self._df[token] += 1
        tag.tokens = tokens

    def _remove(self, key: str) -> None:
        tag = self._tags.pop(key)
        self._set_tokens(tag, ())
        self._pieces.pop(key, None)
        for gram in _grams(key):
            keys = self._grams[gram]
            keys.discard(key)
            if not keys:
                del self._grams[gram]

    def _evict(self) -> None:
        excess = len(self._tags) - self.config.max_tags
        if excess > 0:
            evictable = (t for t in self._tags.values() if t.key not in self.official)
            for tag in heapq.nsmallest(excess, evictable, key=lambda t: (t.posts, t.key)):
                self._remove(tag.key)

    # --- similarity ---------------------------------------------------------------

    def _pieces_of(self, tag: _Tag) -> tuple[str, ...]:
        cached = self._pieces.get(tag.key)
        if cached and cached[0] == self._vocab_version:
            return cached[1]
        pieces = tuple(p for token in tag.tokens for p in self._split(token))
        self._pieces[tag.key] = (self._vocab_version, pieces)
        return pieces

    def _split(self, token: str) -> tuple[str, ...]:
        """Re-split a glued token into words other tags spell out (قمهبغداد → قمه بغداد).

        Maximises the characters covered by known words; at most one unknown
        piece (استقراروبناء → استقرار + وبناء), and known words must cover half."""
        n = len(token)
        if n < 2 * _MIN_PIECE:
            return (token,)
        # A piece is a word if known at least as widely as the whole token: a
        # stray split such as #الع_راق never outvotes a common word like العراق.
        whole = max(1, self._df.get(token, 0))

        def is_word(piece: str) -> bool:
            return piece != token and self._df.get(piece, 0) >= whole

        # best[u][i]: (known chars, -pieces, start of last piece) for token[:i] with u unknown pieces
        best: list[list[tuple[int, int, int] | None]] = [[None] * (n + 1) for _ in range(2)]
        best[0][0] = (0, 0, -1)
        for i in range(_MIN_PIECE, n + 1):
            for j in range(0, i - _MIN_PIECE + 1):
                piece = token[j:i]
                known = is_word(piece)
                for u in (0, 1):
                    prev = best[u][j]
                    target = u if known else u + 1
                    if prev is None or target > 1:
                        continue
                    cand = (prev[0] + (i - j if known else 0), prev[1] - 1, j)
                    current = best[target][i]
                    if current is None or cand[:2] > current[:2]:
                        best[target][i] = cand
        options = [(u, end) for u in (0, 1) if (end := best[u][n]) is not None]
        u, last = max(options, key=lambda o: (o[1][0], -o[0], o[1][1]))
        if last[1] > -2 or last[0] * 2 < n:
            return (token,)
        pieces, i = [], n
        while i > 0:
            j = cast(tuple[int, int, int], best[u][i])[2]  # (set on the best path)
            piece = token[j:i]
            pieces.append(piece)
            if not is_word(piece):
                u -= 1
            i = j
        return tuple(reversed(pieces))

    def _weight(self, token: str) -> float:
        return math.log(1 + len(self._tags) / max(1, self._df.get(token, 0)))

    def _generic(self, token: str) -> bool:
        df = self._df.get(token, 0)
        return df >= max(self.config.generic_min_df, self.config.generic_fraction * len(self._tags))

    def _token_similarity(self, a: _Tag, b: _Tag) -> float:
        pa, pb = self._pieces_of(a), self._pieces_of(b)
        if _longest_common_run(pa, pb) < self.config.min_shared_tokens:
            return 0.0
        shared = Counter(pa) & Counter(pb)
        if all(self._generic(t) for t in shared):
            return 0.0
        mass = min(sum(map(self._weight, pa)), sum(map(self._weight, pb)))
        return sum(self._weight(t) * n for t, n in shared.items()) / mass

    def _spelling_similarity(self, a: str, b: str) -> float:
        shorter = min(len(a), len(b))
        # Arabic words are short: one letter is a different word in short keys (امن/ابن بغداد).
        limit = 2 if shorter >= 16 else 1 if shorter >= 9 else 0
        if not limit or abs(len(a) - len(b)) > limit or _DIGITS.sub("", a) == _DIGITS.sub("", b):
            return 0.0
        return self.config.spelling_similarity if _edit_distance(a, b, limit) <= limit else 0.0

    def _similarity(self, a: _Tag, b: _Tag) -> float:
        base = max(self._token_similarity(a, b), self._spelling_similarity(a.key, b.key))
        if base <= 0.0 or base >= self.config.similarity:
            return base
        return base + self.config.co_use_weight * jaccard(a.author_hashes(), b.author_hashes())

    def _candidates(self, tag: _Tag) -> list[str]:
        shared: Counter[str] = Counter()
        for gram in _grams(tag.key):
            keys = self._grams.get(gram, ())
            if len(keys) <= self.config.max_gram_postings:
                shared.update(keys)
        shared.pop(tag.key, None)
        return [k for k, n in shared.most_common(self.config.max_candidates) if n >= 2]

    # --- groups -------------------------------------------------------------------

    def _build_groups(self, officials_only: bool) -> list[list[str]]:
        """Star groups: each member is similar to its group's anchor itself."""
        anchors = [k for k in self.official if k in self._tags]
        if not officials_only:
            anchors += sorted((k for k in self._tags if k not in self.official),
                              key=lambda k: (-self._tags[k].posts, k))
        assigned: set[str] = set()
        groups = []
        for key in anchors:
            if key in assigned:
                continue
            anchor = self._tags[key]
            members = [key]
            assigned.add(key)
            for other in self._candidates(anchor):
                tag = self._tags[other]
                if other not in assigned and tag.posts > 0 \
                        and self._similarity(anchor, tag) >= self.config.similarity:
                    members.append(other)
                    assigned.add(other)
            groups.append(members)
        return groups

    def _describe(self, members: list[str]) -> dict:
        surfaces: dict[str, list] = {}
        for key in members:
            for sid, (surface, posts) in self._tags[key].surfaces.items():
                entry = surfaces.setdefault(sid, [surface, key, 0])
                entry[2] += posts
        official = {_surface_id(self.official[k]): self.official[k] for k in members if k in self.official}
        for sid, display in official.items():
            surfaces.setdefault(sid, [display.lstrip("#"), canonical_key(display), 0])
        total = sum(entry[2] for entry in surfaces.values())
        variants = [{"tag": "#" + surface, "key": key, "posts": posts,
                     "share": round(posts / total, 4) if total else 0.0, "official": sid in official}
                    for sid, (surface, key, posts) in surfaces.items()]
        variants.sort(key=lambda v: (-v["posts"], v["tag"]))
        authors = KMV()
        for key in members:
            for h in self._tags[key].author_hashes():
                authors.add_hash(h)
        official_posts = sum(v["posts"] for v in variants if v["official"])
        anchor = self._tags[members[0]]
        return {
            "anchor": self.official.get(anchor.key) or anchor.display(), "key": anchor.key,
            "posts": total, "authors": round(authors.estimate()), "variants": variants,
            "official": [official[sid] for sid in official] or None,
            "official_share": round(official_posts / total, 4) if official and total else None,
            "window_minutes": self.config.window_minutes,
        }

    def groups(self, min_variants: int = 2) -> list[dict]:
        """Active groups whose volume is split across at least ``min_variants`` spellings."""
        described = [self._describe(members) for members in self._build_groups(officials_only=False)]
        found = [g for g in described if sum(v["posts"] > 0 for v in g["variants"]) >= min_variants]
        return sorted(found, key=lambda g: (-g["posts"], g["key"]))

    def group_of(self, tag: str) -> dict | None:
        """The group holding ``tag`` (a display form or a canonical key), with shares.

        The same group as a full ``_build_groups`` pass, worked out from the
        tag's neighbourhood only: milliseconds at ``max_tags``, for the CLI and
        the web view."""
        key = canonical_key(tag)
        if key not in self._tags:
            return None
        anchors = _Anchors(self, officials_only=key in self.official)
        anchor = anchors.of(key)
        return self._describe([anchor] + [other for other in anchors.candidates(anchor)
                                          if anchors.of(other) == anchor])

    def _rank(self, key: str) -> tuple:
        """A key's turn as an anchor in ``_build_groups``."""
        if key in self.official:
            return (0, list(self.official).index(key), "")
        return (1, -self._tags[key].posts, key)

    # --- fragmentation ------------------------------------------------------------

    def _check_officials(self, minute: float) -> list[Alert]:
        if not self.official:
            return []
        cfg = self.config
        by_key = {key: members for members in self._build_groups(officials_only=True) for key in members}
        alerts = []
        for key, display in self.official.items():
            members = by_key.get(key)
            if not members:
                continue
            group = self._describe(members)
            official_sid = _surface_id(display)
            official_posts = sum(v["posts"] for v in group["variants"] if _surface_id(v["tag"]) == official_sid)
            share = official_posts / group["posts"] if group["posts"] else 0.0
            rivals = [v for v in group["variants"] if not v["official"] and v["posts"] > 0]
            busy = group["posts"] >= cfg.min_group_posts
            episode = self._episodes.setdefault(key, Episode(
                "fragmentation", key, fire_after=cfg.sustain_minutes, resolve_after=cfg.resolve_minutes))
            score = 10.0 * max(0.0, cfg.share_threshold - share) / cfg.share_threshold
            if episode.firing:
                summary = (f"{display} recovered to {share:.0%} of its group's "
                           f"{group['posts']} tag uses in the last {cfg.window_minutes} min"
                           if busy else f"The group of {display} went quiet")
            else:
                top = rivals[0] if rivals else None
                summary = (f"{display} has only {share:.0%} of {group['posts']} tag uses across "
                           f"{len(group['variants'])} spellings in the last {cfg.window_minutes} min; "
                           + (f"the top competing variant {top['tag']} has {top['share']:.0%}."
                              if top else "no competing variant."))
            alert = episode.update(
                at=minute, active=busy and bool(rivals) and share < cfg.share_threshold,
                calm=not busy or share >= cfg.share_threshold + cfg.recover_margin,
                score=score, subject=display, observed=share, expected=cfg.share_threshold,
                summary=summary, related=[v["tag"] for v in rivals],
                started_at=minute - (cfg.sustain_minutes - 1) * MINUTE,
                evidence={
                    "window_minutes": cfg.window_minutes, "group_posts": group["posts"],
                    "group_authors": group["authors"], "variants": group["variants"],
                    "top_accounts": self._rival_accounts(members, official_sid),
                },
            )
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _rival_accounts(self, members: list[str], official_sid: str) -> list[dict]:
        """Accounts posting most under keys without the official spelling.

        Authors are summarised per key, not per spelling, so keys that also
        carry the official spelling are left out rather than guessed at."""
        posts: Counter[str] = Counter()
        tags: dict[str, set[str]] = {}
        for key in members:
            tag = self._tags[key]
            if official_sid in tag.surfaces:
                continue
            for _, _, authors in tag.blocks:
                for author, count in authors.items():
                    posts[author] += count
                    tags.setdefault(author, set()).add(tag.display())
        return [{"author": author, "posts": n, "tags": sorted(tags[author])}
                for author, n in sorted(posts.items(), key=lambda kv: (-kv[1], kv[0]))
                [: self.config.top_accounts]]

    # --- state ----------------------------------------------------------------------

    def to_state(self) -> dict:
        return {
            "config": asdict(self.config),
            "official": list(self.official.values()),
            "minute": self.minute,
            "tags": [[t.key, [list(m) for m in t.minutes],
                      [[start, hashes, sorted(authors.items())] for start, hashes, authors in t.blocks]]
                     for t in self._tags.values()],
            "episodes": [ep.to_state() for ep in self._episodes.values()],
        }

    @classmethod
    def from_state(cls, d: dict) -> "VariantGrouper":
        grouper = cls(d["official"], VariantConfig(**d["config"]))
        grouper.minute = d["minute"]
        for key, minutes, blocks in d["tags"]:
            tag = grouper._tag(key, "#" + key)
            for minute, posts, surfaces in minutes:
                tag.add_minute(minute, posts, [list(s) for s in surfaces])
            grouper._retokenise(tag)
            tag.blocks = deque([start, list(hashes), dict(authors)] for start, hashes, authors in blocks)
            grouper._schedule_expiry(tag)
        for state in d["episodes"]:
            episode = Episode.from_state(state)
            grouper._episodes[episode.key] = episode
        return grouper


class _Anchors:
    """Anchors of ``_build_groups``, computed lazily for the keys asked about.

    A key joins the first anchor, in turn, that is still free and takes it (it
    is among the anchor's candidates, so the two share n-grams), else anchors
    its own group: so a key's anchor depends only on earlier keys nearby."""

    def __init__(self, grouper: VariantGrouper, officials_only: bool):
        self.grouper = grouper
        self.officials_only = officials_only
        self.anchors: dict[str, str] = {}
        self._candidates: dict[str, list[str]] = {}

    def candidates(self, key: str) -> list[str]:
        if key not in self._candidates:
            self._candidates[key] = self.grouper._candidates(self.grouper._tags[key])
        return self._candidates[key]

    def _earlier_neighbours(self, key: str) -> list[str]:
        grouper = self.grouper
        nearby: Counter[str] = Counter()
        for gram in _grams(key):
            keys = grouper._grams.get(gram, ())
            if len(keys) <= grouper.config.max_gram_postings:
                nearby.update(keys)
        rank = grouper._rank(key)
        return sorted((k for k, n in nearby.items()
                       if n >= 2 and grouper._rank(k) < rank
                       and (not self.officials_only or k in grouper.official)), key=grouper._rank)

    def of(self, key: str) -> str:
        if key in self.anchors:
            return self.anchors[key]
        # every earlier key that might decide this one, settled in turn (no recursion)
        earlier = {key: self._earlier_neighbours(key)}
        todo = [key]
        while todo:
            for other in earlier[todo.pop()]:
                if other not in earlier and other not in self.anchors:
                    earlier[other] = self._earlier_neighbours(other)
                    todo.append(other)
        grouper = self.grouper
        for current in sorted(earlier, key=grouper._rank):
            tag = grouper._tags[current]
            self.anchors[current] = current
            if tag.posts <= 0:
                continue
            for other in earlier[current]:
                if (self.anchors[other] == other and current in self.candidates(other)
                        and grouper._similarity(grouper._tags[other], tag) >= grouper.config.similarity):
                    self.anchors[current] = other
                    break
        return self.anchors[key]
