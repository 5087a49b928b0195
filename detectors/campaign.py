"""Coordinated-campaign detection and hijack/counter-surge attribution.

Two stages, so the expensive signals run only where they matter:

* ``CoordinationWindow`` — one per *surging* tag, fed every hit of that tag
  while it surges.  It keeps a bounded sliding window (``max_hits`` hits, at
  most ``window_seconds`` of event time) and, once per closed minute,
  ``signals(now)`` measures how coordinated the window looks:

  ============================  ==============================================
  ``posts_per_author``          posts / distinct accounts (supporting only)
  ``young_accounts``            share of accounts (known age) created within
                                ``young_account_days`` of their post
  ``near_duplicates``           share of posts in near-duplicate clusters of
                                normalised text (MinHash + LSH banding)
  ``synchronized``              share of original posts in ``sync_bin_seconds``
                                bins holding a burst of distinct accounts,
                                over at least ``sync_min_bins`` bins
  ``identical_tag_sets``        share of original posts whose full tag set
                                (>= ``tag_set_min_tags`` tags) is used by
                                >= ``tag_set_min_accounts`` accounts
  ``repost_ring``               share of posts that are reposts inside a
                                closed group of accounts reposting each other
  ============================  ==============================================

  A window is ``coordinated`` when at least ``min_strong_signals`` strong
  signals trip, one of them behavioural (young accounts, synchronized
  posting or a repost ring), and the weighted score reaches ``min_score``:
  one odd signal (a popular tag combination, a few young accounts) is not a
  campaign, and neither is an organic crowd copy-pasting one slogan.

* ``CampaignDetector`` — the global stage.  Per closed minute it reads the
  ``TagMinute`` of every active tag, runs one ``Episode`` per coordinated tag
  and names the watched tags it targets: by co-occurrence (the campaign's posts
  carry the watched tag) or by counter-surge (both surge and at most
  ``counter_surge_overlap`` of the smaller author set, over the recent window,
  is in the other).

>>> window = CoordinationWindow()
>>> for i in range(40):
...     window.add(TagHit(key="push", surface="push", post_id=str(i), author=f"bot{i}",
...                       created_at=1000.0 + (i % 4) * 60 + i % 3, platform="twitter",
...                       text=f"ادعوا لاخوانكم المجاهدين في الفلوجه الان {i % 2}",
...                       cotags=("a", "b"), author_created_at=1000.0 - 86400))
>>> s = window.signals(now=1300.0)
>>> s["coordinated"], sorted(s["tripped"])
(True, ['identical_tag_sets', 'near_duplicates', 'synchronized', 'young_accounts'])
>>> s["templates"][0]["posts"]
40
"""
from __future__ import annotations

import functools
import hashlib
import math
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, TypeVar

import numpy as np
from datasketch import MinHash, MinHashLSH

from detectors.alerts import Alert, Episode
from detectors.records import TagHit, TagMinute
from detectors.text import canonical_key, normalize_text
from detectors.windows import KMV, jaccard

DAY = 86400.0
TEMPLATE_CHARS = 200
KMV_K = 64  # the tag stage's author sketch size (TagMinute.author_hashes)
SAMPLE_POST_IDS = 5

# Weight of each signal in the coordination score.  Reposting inside a closed
# ring and shared templates are the hardest to produce organically; posts per
# author only supports the others (heavy users are normal in any trend).
SIGNAL_WEIGHTS = {
    "posts_per_author": 0.5,
    "young_accounts": 1.0,
    "near_duplicates": 1.25,
    "synchronized": 1.0,
    "identical_tag_sets": 0.75,
    "repost_ring": 1.25,
}
STRONG_SIGNALS = frozenset(SIGNAL_WEIGHTS) - {"posts_per_author"}
# Copy-pasted text and tag blocks alone are also what an organic movement
# quoting a statement looks like (Iraqis adopted al-Abadi's tweet as their
# slogan in 2016); a campaign must also show in who posts, or when.
BEHAVIOURAL_SIGNALS = frozenset({"young_accounts", "synchronized", "repost_ring"})
# A signal far above its threshold counts at most this many times its weight,
# so one extreme signal cannot stand in for a second one.
MAX_SIGNAL_RATIO = 2.0


@dataclass(slots=True)
class CampaignConfig:
    window_seconds: float = 900.0
    max_hits: int = 3000
    min_support: int = 20            # posts/accounts a share needs before it may trip
    posts_per_author: float = 2.0
    young_account_days: float = 30.0
    young_share: float = 0.5
    num_perm: int = 64
    shingle_words: int = 2
    min_text_words: int = 5          # shorter texts ("#tag", "الله اكبر") say nothing
    near_dup_jaccard: float = 0.5
    near_dup_share: float = 0.35
    template_min_posts: int = 3
    sync_bin_seconds: float = 5.0
    sync_min_accounts: int = 5
    sync_min_bins: int = 3
    sync_baseline_bins: int = 12     # neighbours on each side giving a bin's local rate
    sync_share: float = 0.25
    tag_set_min_tags: int = 2
    tag_set_min_accounts: int = 10
    tag_set_share: float = 0.5
    ring_min_accounts: int = 3
    repost_ring_share: float = 0.15
    min_strong_signals: int = 2
    min_score: float = 2.5
    top_n: int = 10
    fire_after: int = 2
    resolve_after: int = 20          # calm minutes: longer than a push's pauses between bursts
    hold_share: float = 0.25         # a minute with this share of the push's busiest one is not calm
    target_min_share: float = 0.05
    pusher_min_share: float = 0.3    # of a flooded watched tag's window, for its top unwatched cotag
    fold_min_share: float = 0.5      # of a coordinated tag's window carrying another tag: folded into it
    counter_surge_overlap: float = 0.1
    counter_surge_min_authors: int = 20


class _WindowHit(NamedTuple):
    created_at: float
    author: str
    post_id: str
    young: bool | None
    text: str                  # normalised; "" for reposts (their text is the original's)
    tags: tuple[str, ...]      # sorted canonical keys of all the post's tags
    repost_of: str | None


class _Text:
    """A distinct normalised text of the window: how many hits hold it, one raw
    example, and its word shingles (None when too short to compare), replaced
    by its row in the window's signature pool when the window's signals are
    next measured."""

    __slots__ = ("refs", "example", "shingles", "row")

    def __init__(self, example: str, shingles: list[bytes] | None):
        self.refs = 0
        self.example = example
        self.shingles = shingles
        self.row = -1

    def comparable(self) -> bool:
        return self.shingles is not None or self.row >= 0


class _SignaturePool:
    """The MinHash signatures and LSH band keys of a window's texts, one row per
    signed text, reused when its text leaves.  Gathering a minute's rows is one
    numpy call; stacking an array per text, and keying every band anew each
    minute, cost a surging tag's window more than clustering it."""

    def __init__(self, num_perm: int, bands: int):
        self.signatures = np.zeros((0, num_perm), dtype=np.uint32)
        self.band_keys = np.zeros((0, bands), dtype=np.uint64)
        self._free: list[int] = []

    def add(self, signatures: np.ndarray, band_keys: np.ndarray) -> list[int]:
        """Store the rows of new texts; returns where each went."""
        n = len(signatures)
        missing = n - len(self._free)
        if missing > 0:
            size = len(self.signatures)
            grown = max(2 * size, size + missing, 16)
            self.signatures = np.vstack([self.signatures, np.zeros((grown - size, self.signatures.shape[1]),
                                                                   dtype=np.uint32)])
            self.band_keys = np.vstack([self.band_keys, np.zeros((grown - size, self.band_keys.shape[1]),
                                                                 dtype=np.uint64)])
            self._free.extend(range(size, grown))
        rows = self._free[len(self._free) - n:]
        del self._free[len(self._free) - n:]
        self.signatures[rows] = signatures
        self.band_keys[rows] = band_keys
        return rows

    def release(self, row: int) -> None:
        self._free.append(row)


@functools.lru_cache(maxsize=8)
def _minhash_seed(num_perm: int) -> MinHash:
    # Building the permutations is most of a MinHash's construction cost.
    return MinHash(num_perm=num_perm, seed=1)


@functools.lru_cache(maxsize=8)
def _lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def _shingles(words: list[str], k: int) -> list[bytes]:
    return list({" ".join(words[i:i + k]).encode() for i in range(len(words) - k + 1)})


def _sha1_hash32(shingle: bytes) -> int:
    """datasketch's ``sha1_hash32`` (MinHash's default hash), compiled here:
    called per shingle of every new text of a surging tag."""
    return int.from_bytes(hashlib.sha1(shingle).digest()[:4], "little")


# MurmurHash3's 32-bit finalizer, as datasketch mixes a hash before permuting it
_FMIX32 = (16, np.uint32(0x85EBCA6B), 13, np.uint32(0xC2B2AE35), 16)


def _signatures(shingle_sets: list[list[bytes]], num_perm: int) -> np.ndarray:
    """MinHash signatures of non-empty shingle sets, one row each: the values of
    datasketch's ``MinHash(num_perm, seed=1).update_batch(shingles)`` (its
    affine32 scheme), for a minute's new texts in one numpy pass.  A MinHash
    per text cost numpy's per-call overhead per post of a surging tag."""
    seed = _minhash_seed(num_perm)
    a, b = seed.permutations
    sizes = np.array([len(shingles) for shingles in shingle_sets])
    hashes = np.fromiter((_sha1_hash32(shingle) for shingles in shingle_sets for shingle in shingles),
                         dtype=np.uint32, count=int(sizes.sum()))
    s1, m1, s2, m2, s3 = _FMIX32
    hashes ^= hashes >> s1
    hashes *= m1
    hashes ^= hashes >> s2
    hashes *= m2
    hashes ^= hashes >> s3
    starts = np.cumsum(sizes) - sizes
    return np.minimum.reduceat(hashes[:, None] * a + b, starts, axis=0)  # (uint32 arithmetic wraps)


@functools.lru_cache(maxsize=8)
def _band_mixers(rows: int) -> np.ndarray:
    # Odd 64-bit multipliers fold a band's ``rows`` values into one key.
    return np.random.default_rng(rows).integers(1, 1 << 63, rows, dtype=np.uint64) | np.uint64(1)


def _band_keys(signatures: np.ndarray, threshold: float, num_perm: int) -> np.ndarray:
    """One 64-bit key per LSH band of each signature (rows: texts, columns: bands)."""
    bands, rows = _lsh_bands(threshold, num_perm)
    n = len(signatures)
    return signatures[:, :bands * rows].reshape(n, bands, rows).astype(np.uint64) @ _band_mixers(rows)


def _near_duplicate_labels(signatures: np.ndarray, band_keys: np.ndarray, threshold: float) -> list[int]:
    """Cluster MinHash signatures: texts sharing an LSH band (``_band_keys``) are
    candidates, the estimated Jaccard confirms them, and clusters are the
    connected components.  Returns a cluster label per row."""
    n = len(signatures)
    # one row of keys per band, all bands sorted at once (a loop over the bands
    # cost numpy's per-call overhead 14 times over, most of a small window's time);
    # an unstable sort is half a stable one's time, and its ties are settled below
    # (array methods and indexing, not numpy's Python-level helpers such as
    # take_along_axis or unique: a window signs a few hundred texts, so each
    # helper's interpreted overhead cost as much as its work)
    keys = band_keys.T
    order = keys.argsort(axis=1)
    ordered = keys[np.arange(len(keys))[:, None], order]
    starts = np.empty(ordered.shape, dtype=bool)
    starts[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    # each text's candidate is the first text (lowest row) of its run of equal keys in the band
    flat_starts = starts.ravel()
    run_leaders = np.minimum.reduceat(order.ravel(), flat_starts.nonzero()[0])
    leader = run_leaders[flat_starts.cumsum() - 1].reshape(order.shape)
    member = leader != order
    # The same pair usually meets in several bands: check it once.
    pairs = leader[member] * n + order[member]
    pairs.sort()
    if len(pairs) > 1:
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    left, right = pairs // n, pairs % n
    # (the share of equal values, as mean() computes it: a float sum over the count)
    similar = (signatures[left] == signatures[right]).sum(axis=1) / signatures.shape[1] >= threshold
    return _components(n, left[similar].tolist(), right[similar].tolist())


def _components(n: int, left: list[int], right: list[int]) -> list[int]:
    """Connected components of nodes 0..n-1 joined by the edges (left[i], right[i]):
    each node's label is its component's first node.  Union-find: a window has
    a few hundred edges, too few to pay for building a sparse matrix.

    >>> _components(5, [0, 3], [2, 4])
    [0, 1, 0, 3, 3]
    """
    parent = list(range(n))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = node = parent[parent[node]]
        return node

    for a, b in zip(left, right):
        a, b = root(a), root(b)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(node) for node in range(n)]


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph.get(root, ())))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _median(values: list[int]) -> float:
    """``statistics.median`` (0.0 of nothing), compiled: called for each busy
    bin of a surging tag's window every minute.

    >>> _median([3, 1, 2]), _median([4, 1, 3, 2]), _median([])
    (2.0, 2.5, 0.0)
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


Group = TypeVar("Group")


def _tally(authors_by: dict[Group, set[str]], posts_by: dict[Group, int], group: Group, author: str) -> None:
    """Count one post of ``author`` in ``group`` (plain dicts: a surging tag's
    window is grouped by time bin and by tag set every minute)."""
    authors = authors_by.get(group)
    if authors is None:
        authors_by[group] = {author}
        posts_by[group] = 1
    else:
        authors.add(author)
        posts_by[group] += 1


def _signal(name: str, value: float, threshold: float, support: int, config: CampaignConfig,
            trips: bool = True, **details) -> dict:
    tripped = bool(trips and support >= config.min_support and value >= threshold)
    return {"value": round(value, 4), "threshold": threshold, "tripped": tripped,
            "weight": SIGNAL_WEIGHTS[name], "support": support, **details}


def _count(counts: dict[str, int], item: str) -> None:
    # (a dict counted in compiled code: Counter's methods are interpreted Python)
    counts[item] = counts.get(item, 0) + 1


def _ranked(counts: dict[str, int], n: int) -> list[list]:
    """The ``n`` commonest items, ties by item.  A window counts hundreds of
    accounts, most with a post or two: only the counts above the cut are
    sorted as pairs, and the items tied at the cut by name alone.

    >>> _ranked({"a": 1, "b": 3, "c": 3, "d": 2}, 2)
    [['b', 3], ['c', 3]]
    >>> _ranked({"z": 1, "b": 3, "y": 1, "x": 1}, 3)
    [['b', 3], ['x', 1], ['y', 1]]
    """
    if len(counts) <= n:
        return [[item, count] for item, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    # (sorting the bare counts in C beats heapq.nlargest, which is interpreted)
    cut = sorted(counts.values(), reverse=True)[n - 1]
    above = sorted([pair for pair in counts.items() if pair[1] > cut], key=lambda kv: (-kv[1], kv[0]))
    tied = sorted([item for item, count in counts.items() if count == cut])[:n - len(above)]
    return [[item, count] for item, count in above] + [[item, cut] for item in tied]


class CoordinationWindow:
    """Sliding, bounded window of one surging tag's hits and its coordination
    signals.  Memory is capped at ``max_hits`` hits (oldest dropped first)."""

    def __init__(self, config: CampaignConfig | None = None):
        self.config = config or CampaignConfig()
        self.key: str | None = None
        self._hits: deque[_WindowHit] = deque()
        self._texts: dict[str, _Text] = {}
        self._pool = _SignaturePool(self.config.num_perm,
                                    _lsh_bands(self.config.near_dup_jaccard, self.config.num_perm)[0])
        self._latest = -math.inf

    def __len__(self) -> int:
        return len(self._hits)

    def add(self, hit: TagHit) -> None:
        config = self.config
        if hit.created_at < self._latest - config.window_seconds:
            return  # too late: it would be evicted at once
        self.key = self.key or hit.key
        young = None
        if hit.author_created_at is not None:
            young = hit.created_at - hit.author_created_at <= config.young_account_days * DAY
        text = "" if hit.repost_of else normalize_text(hit.text)
        self._append(_WindowHit(hit.created_at, hit.author, hit.post_id, young, text,
                                tuple(sorted({hit.key, *hit.cotags})), hit.repost_of),
                     hit.text[:TEMPLATE_CHARS])

    def _append(self, item: _WindowHit, example: str) -> None:
        if item.text:
            entry = self._texts.get(item.text)
            if entry is None:
                words = item.text.split()
                shingles = None
                # (a text of fewer words than a shingle has no shingle to sign)
                if len(words) >= max(self.config.min_text_words, self.config.shingle_words):
                    shingles = _shingles(words, self.config.shingle_words)
                entry = self._texts[item.text] = _Text(example, shingles)
            entry.refs += 1
        self._hits.append(item)
        self._latest = max(self._latest, item.created_at)
        while len(self._hits) > self.config.max_hits:
            self._pop_oldest()
        self._evict(self._latest - self.config.window_seconds)

    def _evict(self, cutoff: float) -> None:
        # Arrival order is close to event order; a straggler leaves a bit late.
        while self._hits and self._hits[0].created_at < cutoff:
            self._pop_oldest()

    def _pop_oldest(self) -> None:
        text = self._hits.popleft().text
        if text:
            entry = self._texts[text]
            entry.refs -= 1
            if not entry.refs:
                del self._texts[text]
                if entry.row >= 0:
                    self._pool.release(entry.row)

    def signals(self, now: float) -> dict:
        """The coordination signals of the window ending at event time ``now``."""
        config = self.config
        self._evict(now - config.window_seconds)
        hits = list(self._hits)
        originals = [h for h in hits if not h.repost_of]
        by_author: dict[str, int] = {}
        cotags: dict[str, int] = {}
        for h in hits:
            _count(by_author, h.author)
            for tag in h.tags:
                if tag != self.key:
                    _count(cotags, tag)

        signals = {
            "posts_per_author": _signal(
                "posts_per_author", len(hits) / max(len(by_author), 1), config.posts_per_author,
                len(hits), config),
            "young_accounts": self._young_accounts(hits),
        }
        signals["near_duplicates"], templates, template_texts = self._near_duplicates(originals)
        signals["synchronized"] = self._synchronized(originals)
        signals["identical_tag_sets"] = self._identical_tag_sets(originals)
        signals["repost_ring"] = self._repost_ring(hits)

        tripped = [name for name, s in signals.items() if s["tripped"]]
        score = sum(s["weight"] * min(s["value"] / s["threshold"], MAX_SIGNAL_RATIO)
                    for s in signals.values() if s["tripped"])
        strong = sum(1 for name in tripped if name in STRONG_SIGNALS)
        samples = [h.post_id for h in hits if h.text in template_texts][:SAMPLE_POST_IDS]
        return {
            "window_start": max(now - config.window_seconds, min((h.created_at for h in hits), default=now)),
            "window_end": now,
            "posts": len(hits),
            "accounts": len(by_author),
            "signals": signals,
            "tripped": tripped,
            "score": round(score, 4),
            "coordinated": (len(hits) >= config.min_support and strong >= config.min_strong_signals
                            and score >= config.min_score and not BEHAVIOURAL_SIGNALS.isdisjoint(tripped)),
            "driving_accounts": _ranked(by_author, config.top_n),
            "templates": templates,
            "cotags": _ranked(cotags, config.top_n),
            "sample_post_ids": samples or [h.post_id for h in hits[-SAMPLE_POST_IDS:]],
        }

    def _young_accounts(self, hits: list[_WindowHit]) -> dict:
        # An account counts as young if any of its posts came soon after it was created.
        young_by_author: dict[str, bool] = {}
        for h in hits:
            if h.young is not None:
                young_by_author[h.author] = young_by_author.get(h.author, False) or h.young
        known = len(young_by_author)
        young = sum(young_by_author.values())
        return _signal("young_accounts", young / known if known else 0.0, self.config.young_share,
                       known, self.config, young=young)

    def _near_duplicates(self, originals: list[_WindowHit]) -> tuple[dict, list[dict], set[str]]:
        config = self.config
        posts_by_text: dict[str, int] = {}
        for h in originals:
            if h.text:
                posts_by_text[h.text] = posts_by_text.get(h.text, 0) + 1
        texts: list[str] = []
        entries: list[_Text] = []
        for text in posts_by_text:
            entry = self._texts[text]
            if entry.comparable():
                texts.append(text)
                entries.append(entry)
        # Most texts are a cluster of one, posted once: only clusters with enough
        # posts to be a template have their accounts counted.
        candidates: list[tuple[int, list[str]]] = []
        if texts:
            unsigned = [entry for entry in entries if entry.row < 0]
            if unsigned:
                # (a comparable entry not signed yet has its shingles)
                signed = _signatures([entry.shingles for entry in unsigned], config.num_perm)  # type: ignore[misc]
                rows = self._pool.add(signed, _band_keys(signed, config.near_dup_jaccard, config.num_perm))
                for entry, row in zip(unsigned, rows):
                    entry.row, entry.shingles = row, None
            rows_now = np.fromiter((entry.row for entry in entries), dtype=np.intp, count=len(entries))
            labels = _near_duplicate_labels(self._pool.signatures[rows_now], self._pool.band_keys[rows_now],
                                            config.near_dup_jaccard)
            clusters: dict[int, list[str]] = {}
            cluster_posts: dict[int, int] = {}
            for text, label in zip(texts, labels):
                members = clusters.get(label)
                if members is None:
                    clusters[label] = [text]
                    cluster_posts[label] = posts_by_text[text]
                else:
                    members.append(text)
                    cluster_posts[label] += posts_by_text[text]
            candidates = [(posts, clusters[label]) for label, posts in cluster_posts.items()
                          if posts >= config.template_min_posts]
        authors_by_text: dict[str, set[str]] = {}
        if candidates:
            for _, members in candidates:
                for text in members:
                    authors_by_text[text] = set()
            for h in originals:
                authors = authors_by_text.get(h.text)
                if authors is not None:
                    authors.add(h.author)
        templates: list[dict[str, Any]] = []
        for posts, members in candidates:
            accounts = len(set().union(*(authors_by_text[t] for t in members)))
            if accounts >= 2:
                commonest = max(members, key=lambda t: (posts_by_text[t], t))
                templates.append({"text": self._texts[commonest].example, "posts": posts,
                                  "accounts": accounts, "variants": len(members), "members": members})
        templates.sort(key=lambda t: (-t["posts"], t["text"]))
        eligible = sum(posts_by_text[t] for t in texts)
        duplicated = sum(t["posts"] for t in templates)
        shown = templates[:config.top_n]
        sample_texts = set(shown[0]["members"]) if shown else set()
        for template in shown:
            del template["members"]
        signal = _signal("near_duplicates", duplicated / eligible if eligible else 0.0,
                         config.near_dup_share, eligible, config, clusters=len(templates))
        return signal, shown, sample_texts

    def _synchronized(self, originals: list[_WindowHit]) -> dict:
        # A burst is judged against the tag's own local rate (median of the
        # neighbouring bins) so a fast organic trend is not "synchronized".
        # Reposts are left out: an organic viral post is reposted in bursts too.
        config = self.config
        authors_by_bin: dict[int, set[str]] = {}
        posts_by_bin: dict[int, int] = {}
        for h in originals:
            _tally(authors_by_bin, posts_by_bin, int(h.created_at // config.sync_bin_seconds), h.author)
        span = config.sync_baseline_bins
        first, last = min(authors_by_bin, default=0), max(authors_by_bin, default=0)
        accounts = [0] * (last - first + 1)  # per bin, quiet ones included
        for b, authors in authors_by_bin.items():
            accounts[b - first] = len(authors)
        burst_bins = burst_posts = largest = 0
        for b, authors in authors_by_bin.items():
            if len(authors) < config.sync_min_accounts:
                continue
            # Only bins inside the window: outside it is unknown, not quiet.
            i = b - first
            local = _median(accounts[max(i - span, 0):i] + accounts[i + 1:i + span + 1])
            if len(authors) >= max(config.sync_min_accounts, local + 4.0 * math.sqrt(local + 1.0)):
                burst_bins += 1
                burst_posts += posts_by_bin[b]
                largest = max(largest, len(authors))
        return _signal("synchronized", burst_posts / len(originals) if originals else 0.0,
                       config.sync_share, len(originals), config,
                       trips=burst_bins >= config.sync_min_bins, bursts=burst_bins, largest_burst=largest)

    def _identical_tag_sets(self, originals: list[_WindowHit]) -> dict:
        config = self.config
        authors_by_set: dict[tuple[str, ...], set[str]] = {}
        posts_by_set: dict[tuple[str, ...], int] = {}
        for h in originals:
            if len(h.tags) >= config.tag_set_min_tags:
                _tally(authors_by_set, posts_by_set, h.tags, h.author)
        shared = {tags: len(a) for tags, a in authors_by_set.items() if len(a) >= config.tag_set_min_accounts}
        posts = sum(posts_by_set[tags] for tags in shared)
        top = sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        return _signal("identical_tag_sets", posts / len(originals) if originals else 0.0,
                       config.tag_set_share, len(originals), config,
                       tag_sets=[{"tags": list(tags), "accounts": n} for tags, n in top])

    def _repost_ring(self, hits: list[_WindowHit]) -> dict:
        config = self.config
        graph: dict[str, set[str]] = defaultdict(set)
        edges = []
        reposts: list[tuple[str, str]] = [(h.author, h.repost_of) for h in hits if h.repost_of]
        if reposts:  # (most windows have none: no index of every post's author)
            author_of = {h.post_id: h.author for h in hits}
            for author, original in reposts:
                source = author_of.get(original)
                if source is not None and source != author:
                    graph[author].add(source)
                    edges.append((author, source))
        ring_of: dict[str, int] = {}
        rings = [c for c in _strongly_connected(graph) if len(c) >= config.ring_min_accounts]
        for i, ring in enumerate(rings):
            ring_of.update(dict.fromkeys(ring, i))
        inside = sum(1 for a, b in edges if a in ring_of and ring_of[a] == ring_of.get(b))
        rings.sort(key=lambda ring: (-len(ring), min(ring)))
        return _signal("repost_ring", inside / len(hits) if hits else 0.0, config.repost_ring_share,
                       len(hits), config,
                       rings=[{"accounts": len(r), "members": sorted(r)[:config.top_n]} for r in rings[:3]])

    def to_state(self) -> dict:
        return {
            "config": asdict(self.config),
            "key": self.key,
            "hits": [list(h) for h in self._hits],
            "examples": {text: entry.example for text, entry in self._texts.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> "CoordinationWindow":
        window = cls(CampaignConfig(**state["config"]))
        window.key = state["key"]
        examples = state["examples"]
        for created_at, author, post_id, young, text, tags, repost_of in state["hits"]:
            window._append(_WindowHit(created_at, author, post_id, young, text, tuple(tags), repost_of),
                           examples.get(text, ""))
        return window


def _containment(a: list[int], b: list[int]) -> float:
    """Estimated share of the smaller author set that is also in the other, from
    KMV sketches.  Jaccard would call a campaign's 300 accounts "disjoint" from an
    organic crowd of 5000 even if all 300 were in it."""
    first, second = KMV(KMV_K, a), KMV(KMV_K, b)
    shared = jaccard(a, b, KMV_K) * first.merge(second).estimate()
    return min(shared / max(min(first.estimate(), second.estimate()), 1.0), 1.0)


_SUMMARY_PHRASES = {
    "young_accounts": "{:.0%} young",
    "near_duplicates": "{:.0%} near-duplicate texts",
    "synchronized": "{:.0%} in synchronized bursts",
    "identical_tag_sets": "{:.0%} with identical tag sets",
    "repost_ring": "{:.0%} reposts inside a ring",
    "posts_per_author": "{:.1f} posts per account",
}


class _Push(NamedTuple):
    """A tag under a coordinated push in one minute."""

    display: str
    minute: TagMinute | None          # the pushed tag's own summary, if it is active
    coordination: dict                # the signals the decision rests on,
    targets: list[tuple[str, dict]]   # (key, evidence entry) of each targeted watched tag
    measured_on: str                  # and the tag whose window they were measured on
    folded: dict[str, dict]           # other coordinated tags whose posts are this push's


def _signals(summary: TagMinute) -> dict:
    """The campaign signals of a coordinated tag's minute (only those have them)."""
    assert summary.coordination is not None
    return summary.coordination


class CampaignDetector:
    """Raises one ``counter_campaign`` alert per coordinated-push episode and
    names the watched tags it targets.  ``watched`` holds display tags.

    A campaign's copy-pasted tag block makes every tag in it look coordinated:
    a coordinated tag whose window is mostly posts that also carry another tag
    (the one with an open episode, or a coordinated tag that carries it more
    than it carries that tag) is folded into that tag's episode and listed in
    its evidence, never alerted on its own.  A firing episode stays open while
    the pushed tag still bursts (``hold_share`` of its busiest minute), so the
    pauses between a push's bursts do not split it."""

    def __init__(self, watched: Iterable[str] = (), config: CampaignConfig | None = None):
        self.config = config or CampaignConfig()
        self.watched = {canonical_key(tag): tag if tag.startswith("#") else "#" + tag for tag in watched}
        self.episodes: dict[str, Episode] = {}
        # Per episode: its targets and folded tags so far, and the pushed tag's busiest minute.
        self.notes: dict[str, dict] = {}
        # Per-minute author sketches of surging and watched tags, for counter-surge overlap.
        self.author_minutes: dict[str, deque[tuple[float, list[int]]]] = {}
        # Watched tags flooded by a coordinated push, until when their windows may still hold it.
        self.hijacked_until: dict[str, float] = {}

    def on_minute(self, minute: float, summaries: list[TagMinute]) -> list[Alert]:
        by_key = {s.key: s for s in summaries}
        self._remember_authors(minute, summaries)
        # A window exists only while its tag surges (and a cooldown after), so a
        # push is still judged between its bursts.
        coordinated = {s.key: s for s in summaries if s.coordination and s.coordination["coordinated"]}
        pushes = self._pushes(minute, coordinated, by_key)
        alerts = []
        for key, push in pushes.items():
            episode = self.episodes.get(key)
            if episode is None:
                episode = self.episodes[key] = Episode(
                    "counter_campaign", key, self.config.fire_after, self.config.resolve_after)
            notes = self._note(key, push)
            # co-occurrence is a fact about the push's posts and sticks; a counter-surge holds only while seen
            found = list(notes["targets"].values()) + [
                t for k, t in push.targets if t["relation"] == "counter-surge" and k not in notes["targets"]]
            alert = episode.update(
                at=minute, active=True, calm=False, score=push.coordination["score"],
                subject=push.display, observed=push.minute.posts if push.minute else 0,
                expected=push.minute.expected if push.minute else 0.0,
                summary=self._summary(push.display, push.coordination, found),
                related=self._related(found, notes),
                evidence=self._evidence(push, found, notes, by_key),
                severity="critical" if found else "warning")
            if alert:
                alerts.append(alert)
        for key, episode in list(self.episodes.items()):
            if key not in pushes:
                summary = by_key.get(key)
                notes = self.notes.get(key, {})
                posts = summary.posts if summary else 0
                bursting = posts >= max(self.config.hold_share * notes.get("peak_posts", 0),
                                        self.config.min_support)
                alert = episode.update(at=minute, active=False, calm=not bursting, observed=posts,
                                       expected=summary.expected if summary else 0.0,
                                       summary=f"Coordinated push on {episode.subject} has ended",
                                       related=self._related(list(notes["targets"].values()), notes)
                                       if notes else None,
                                       evidence=self._closing_evidence(episode, notes, minute))
                if alert:
                    alerts.append(alert)
            if not episode.firing and not episode.streak:
                del self.episodes[key]
                self.notes.pop(key, None)
        return alerts

    def _pushes(self, minute: float, coordinated: dict[str, TagMinute],
                by_key: dict[str, TagMinute]) -> dict[str, "_Push"]:
        """The tags under a coordinated push this minute, with their evidence.

        Each coordinated tag is its own push or is carried by another tag (see
        ``_carrier``).  A push that carries a watched tag floods that tag's
        window too, for as long as the window holds its posts: the watched tag is
        then the target, named in the pusher's alert, not a campaign of its own.
        A carrier whose own window did not see the push (it started surging after
        its first burst, or has no window at all between bursts) is judged on
        the window of the tag it carries."""
        carrier = {key: self._carrier(key, summary, coordinated) for key, summary in coordinated.items()}
        root = {}
        for key in coordinated:
            seen = [key]
            while (next_key := carrier.get(seen[-1])) is not None and next_key not in seen:
                seen.append(next_key)
            root[key] = seen[-1]
        hijacked: set[str] = set()
        pushes: dict[str, _Push] = {}
        # Tags measured on their own window first, then carriers seen only through others.
        order = sorted(coordinated, key=lambda k: (root[k] != k, k in self.watched,
                                                   -_signals(coordinated[k])["posts"], k))
        for key in order:
            summary, pusher = coordinated[key], root[key]
            coordination = _signals(summary)
            if pusher == key:
                if key in self.watched and (key in hijacked or key in self.hijacked_until):
                    continue  # the target of a push, not a push of its own
                targets = self._targets(summary, by_key)
                pushes[key] = _Push(summary.display, summary, coordination, targets, summary.display, {})
                hijacked.update(k for k, target in targets if target["relation"] == "co-occurs")
                continue
            share = self._shares(summary).get(pusher, 0.0)
            if key in self.watched:
                hijacked.add(key)
                target = (key, {"tag": summary.display, "relation": "co-occurs", "overlap": round(share, 4)})
            else:
                target = None
            push = pushes.get(pusher)
            if push is None:
                pushing = by_key.get(pusher)
                targets = [t for t in self._targets(summary, by_key) if t[0] != pusher]
                push = pushes[pusher] = _Push(
                    pushing.display if pushing else self.watched.get(pusher, "#" + pusher), pushing,
                    coordination, [target] + targets if target else targets, summary.display, {})
            elif target and target[0] not in dict(push.targets):
                push.targets.append(target)
            if target is None:
                push.folded[key] = {"tag": summary.display, "overlap": round(share, 4)}
        self.hijacked_until.update(dict.fromkeys(hijacked, minute + self.config.window_seconds))
        self.hijacked_until = {k: until for k, until in self.hijacked_until.items() if until > minute}
        return pushes

    @staticmethod
    def _shares(summary: TagMinute) -> dict[str, float]:
        """Share of the tag's window posts that also carry each top cotag."""
        signals = _signals(summary)
        posts = max(signals["posts"], 1)
        return {k: n / posts for k, n in signals["cotags"]}

    def _carrier(self, key: str, summary: TagMinute, coordinated: dict[str, TagMinute]) -> str | None:
        """The tag whose push this coordinated tag's posts belong to, if not its
        own (always its own while its episode fires):

        * an open episode's tag on ``fold_min_share`` of the window (for a
          watched tag, ``pusher_min_share``: it has its own crowd too);
        * for a watched tag, its top unwatched cotag on ``pusher_min_share``;
        * a coordinated unwatched tag on ``fold_min_share`` of the window that
          carries this one more than this one carries it (a campaign's tag is on
          all its posts, a generic tag of its block on some)."""
        config = self.config
        own = self.episodes.get(key)
        if own is not None and own.firing:
            return None  # an alerted push stays the push, whatever its posts also carry
        shares = self._shares(summary)
        watched = key in self.watched
        least = config.pusher_min_share if watched else config.fold_min_share
        open_ = [(share, k) for k, share in shares.items()
                 if k in self.episodes and k != key and share >= least]
        if open_:
            return max(open_)[1]
        if watched:
            return next((k for k, share in shares.items() if k not in self.watched and share >= least), None)
        carriers = [(share, k) for k, share in shares.items()
                    if k in coordinated and k not in self.watched and share >= least
                    and self._shares(coordinated[k]).get(key, 0.0) < share]
        return max(carriers)[1] if carriers else None

    def _note(self, key: str, push: "_Push") -> dict:
        """Accumulate the episode's targets, folded tags and busiest minute."""
        notes = self.notes.setdefault(key, {"targets": {}, "folded": {}, "peak_posts": 0})
        for target_key, entry in push.targets:
            if entry["relation"] != "co-occurs":
                continue
            known = notes["targets"].get(target_key)
            if known is None or entry["overlap"] > known["overlap"]:
                notes["targets"][target_key] = dict(entry)
        for folded_key, entry in push.folded.items():
            known = notes["folded"].get(folded_key)
            if known is None or entry["overlap"] > known["overlap"]:
                notes["folded"][folded_key] = dict(entry)
        if len(notes["folded"]) > self.config.top_n:  # bounded: keep the most overlapping
            kept = sorted(notes["folded"].items(), key=lambda kv: -kv[1]["overlap"])[:self.config.top_n]
            notes["folded"] = dict(kept)
        if push.minute is not None:
            notes["peak_posts"] = max(notes["peak_posts"], push.minute.posts)
        return notes

    @staticmethod
    def _related(targets: list[dict], notes: dict) -> list[str]:
        return [t["tag"] for t in targets] + [f["tag"] for f in notes["folded"].values()]

    def _closing_evidence(self, episode: Episode, notes: dict, minute: float) -> dict | None:
        if not episode.firing:
            return None
        return {"targets": list(notes.get("targets", {}).values()),
                "related_tags": list(notes.get("folded", {}).values()),
                "peak_posts_per_minute": notes.get("peak_posts", 0),
                "duration_minutes": round((minute - episode.started_at) / 60)}

    def _remember_authors(self, minute: float, summaries: list[TagMinute]) -> None:
        for s in summaries:
            if s.surging or s.key in self.watched:
                self.author_minutes.setdefault(s.key, deque()).append((s.minute, list(s.author_hashes)))
        cutoff = minute - self.config.window_seconds
        for key, minutes in list(self.author_minutes.items()):
            while minutes and minutes[0][0] < cutoff:
                minutes.popleft()
            if not minutes:
                del self.author_minutes[key]

    def _recent_authors(self, key: str) -> list[int]:
        merged = set().union(*(hashes for _, hashes in self.author_minutes.get(key, ())))
        return sorted(merged)[:KMV_K]

    def _targets(self, summary: TagMinute, by_key: dict[str, TagMinute]) -> list[tuple[str, dict]]:
        """(canonical key, evidence entry) of each watched tag the coordinated tag targets."""
        config = self.config
        coordination = _signals(summary)
        # The window's top cotags, and the tag stage's for the minute in case a
        # watched tag is just below the window's top N.
        window_cotags, minute_cotags = dict(coordination["cotags"]), dict(summary.cotags)
        pushed_authors = None
        targets = []
        for key, display in self.watched.items():
            if key == summary.key:
                continue
            share = max(window_cotags.get(key, 0) / max(coordination["posts"], 1),
                        minute_cotags.get(key, 0) / max(summary.posts, 1))
            if share >= config.target_min_share:
                targets.append((key, {"tag": display, "relation": "co-occurs", "overlap": round(share, 4)}))
                continue
            watched = by_key.get(key)
            if watched is None or not watched.surging:
                continue
            pushed_authors = pushed_authors if pushed_authors is not None else self._recent_authors(summary.key)
            watched_authors = self._recent_authors(key)
            if min(len(pushed_authors), len(watched_authors)) < config.counter_surge_min_authors:
                continue  # too few accounts for an overlap to mean anything
            overlap = _containment(pushed_authors, watched_authors)
            if overlap < config.counter_surge_overlap:
                targets.append((key, {"tag": display, "relation": "counter-surge", "overlap": round(overlap, 4)}))
        return targets

    @staticmethod
    def _summary(display: str, coordination: dict, targets: list[dict]) -> str:
        facts = [f"{coordination['accounts']} accounts"] + [
            _SUMMARY_PHRASES[name].format(coordination["signals"][name]["value"])
            for name in _SUMMARY_PHRASES if name in coordination["tripped"]]
        text = f"Coordinated push on {display} ({', '.join(facts)})"
        if targets:
            text += " targeting " + ", ".join(t["tag"] for t in targets)
        return text

    def _evidence(self, push: "_Push", targets: list[dict], notes: dict, by_key: dict[str, TagMinute]) -> dict:
        def display(key: str) -> str:
            return by_key[key].display if key in by_key else self.watched.get(key, "#" + key)

        coordination = push.coordination
        return {
            "measured_on": push.measured_on,
            "signals": {name: {k: s[k] for k in ("value", "threshold", "tripped")}
                        for name, s in coordination["signals"].items()},
            "tripped": coordination["tripped"],
            "accounts": coordination["accounts"],
            "posts_in_window": coordination["posts"],
            "driving_accounts": [{"author": a, "posts": n} for a, n in coordination["driving_accounts"]],
            "templates": [{"text": t["text"][:TEMPLATE_CHARS], "posts": t["posts"], "accounts": t["accounts"]}
                          for t in coordination["templates"]],
            "cotags": [{"tag": display(k), "posts": n} for k, n in coordination["cotags"]],
            "sample_post_ids": coordination["sample_post_ids"],
            "targets": targets,
            "related_tags": list(notes["folded"].values()),
        }

    def to_state(self) -> dict:
        return {
            "config": asdict(self.config),
            "watched": list(self.watched.values()),
            "episodes": {key: ep.to_state() for key, ep in self.episodes.items()},
            "notes": self.notes,
            "author_minutes": {key: [[m, h] for m, h in minutes] for key, minutes in self.author_minutes.items()},
            "hijacked_until": self.hijacked_until,
        }

    @classmethod
    def from_state(cls, state: dict) -> "CampaignDetector":
        detector = cls(state["watched"], CampaignConfig(**state["config"]))
        detector.episodes = {key: Episode.from_state(ep) for key, ep in state["episodes"].items()}
        detector.notes = {key: {"targets": dict(n["targets"]), "folded": dict(n["folded"]),
                                "peak_posts": n["peak_posts"]} for key, n in state["notes"].items()}
        detector.author_minutes = {key: deque((m, list(h)) for m, h in minutes)
                                   for key, minutes in state["author_minutes"].items()}
        detector.hijacked_until = dict(state["hijacked_until"])
        return detector
