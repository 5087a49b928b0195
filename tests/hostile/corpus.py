"""Nasty posts: what each must become.  ``CORPUS`` maps a name to (raw bytes,
expected) where expected is a DLQ reason, or the set of canonical tag keys the
post must be counted under (it is valid)."""
from __future__ import annotations

import orjson

NOW_ISH = "2016-05-22T10:00:00Z"


def post(**fields) -> bytes:
    base = {"id": "h1", "platform": "twitter", "author": "hostile", "created_at": NOW_ISH, "text": "#nasty"}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


TEN_THOUSAND_TAGS = " ".join("#z" + base36(i) for i in range(10_000))

CORPUS: dict[str, tuple[bytes, str | set[str]]] = {
    # bytes that are not a post at all
    "empty": (b"", "invalid_json"),
    "invalid utf-8": (b'{"id": "h1", "text": "\xc3\x28 #x"}', "invalid_utf8"),
    "overlong utf-8 nul": (b'{"id": "\xc0\x80"}', "invalid_utf8"),
    "utf-16 bom": ("\ufeff".encode("utf-16") + b"{}", "invalid_utf8"),
    "lone surrogate escape": (post(text="#a").replace(b"#a", b"\\ud800 #a"), "invalid_json"),
    "truncated json": (post()[:-5], "invalid_json"),
    "deeply nested array": (b"[" * 40_000 + b"]" * 40_000, "too_large"),
    "deeply nested under limit": (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    "deeply nested field": (post(text="#a").replace(b'"#a"', b'"#a","x":' + b'{"y":' * 3000 + b"1"
                                                    + b"}" * 3000), "invalid_json"),
    "json array": (b"[1,2,3]", "not_an_object"),
    "json string": (b'"#tag"', "not_an_object"),
    "json null": (b"null", "not_an_object"),
    "nan literal": (b'{"id": NaN}', "invalid_json"),
    # size
    "huge text": (post(text="#big " + "ا" * 40_000), "too_large"),
    "10 000 hashtags in text": (post(text=TEN_THOUSAND_TAGS), "too_many_hashtags"),
    "5 000 listed hashtags": (post(hashtags=["h" + base36(i) for i in range(5000)]), "too_many_hashtags"),
    "one tag 5 000 times": (post(text=" ".join(["#same"] * 5000)), {"same"}),
    "huge id": (post(id="9" * 10_000), "invalid_field"),
    # wrong types
    "id is a number": (post(id=12345), "invalid_field"),
    "platform is a list": (post(platform=["twitter"]), "invalid_field"),
    "platform with markup": (post(platform="<b>tw</b>"), "invalid_field"),
    "author null": (post(author=None), "missing_field"),
    "author is an object": (post(author={"$ne": ""}), "invalid_field"),
    "blank author": (post(author="   "), "invalid_field"),
    "text is a number": (post(text=42), "invalid_field"),
    "text missing": (post(text=...), "missing_field"),
    "hashtags is a dict": (post(hashtags={"a": 1}), "invalid_field"),
    "hashtags holds numbers": (post(hashtags=[1, 2]), "invalid_field"),
    "created_at is a number": (post(created_at=1463911200), "invalid_time"),
    "created_at is a bool": (post(created_at=True), "invalid_time"),
    "author_created_at garbage": (post(author_created_at="soon"), "invalid_time"),
    "lang is a list": (post(lang=["ar"]), "invalid_field"),
    # times
    "far future": (post(created_at="9999-12-31T23:59:59Z"), "time_out_of_range"),
    "next year": (post(created_at="2999-01-01T00:00:00Z"), "time_out_of_range"),
    "ancient": (post(created_at="0001-01-01T00:00:00Z"), "time_out_of_range"),
    "epoch": (post(created_at="1970-01-01T00:00:00Z"), "time_out_of_range"),
    "year 10000": (post(created_at="+10000-01-01T00:00:00Z"), "invalid_time"),
    "not a date": (post(created_at="yesterday"), "invalid_time"),
    "absurd offset": (post(created_at="2016-05-22T10:00:00+99:00"), "invalid_time"),
    # text that must be counted, not executed or trusted
    "control characters": (post(text="#ctl\x00\x07\x1b[31m red \x7f"), {"ctl"}),
    "bidi override in text": (post(text="\u202e#bidi txet"), {"bidi"}),
    "bidi override inside a tag": (post(text="#abc\u202edef"), {"abc"}),
    "isolates around a tag": (post(text="\u2066#iso\u2069"), {"iso"}),
    "html and script": (post(text='<script>alert("x")</script><img src=x onerror=alert(1)> #xss'), {"xss"}),
    "markup in author": (post(author="[bold red]admin[/]<b>", text="#rich"), {"rich"}),
    "ansi in id": (post(id="\x1b]8;;http://evil\x07id", text="#ansi"), {"ansi"}),
    "duplicate keys": (b'{"id":"h1","platform":"twitter","author":"a","created_at":"' + NOW_ISH.encode()
                       + b'","text":"#first","text":"#second"}', {"second"}),
    "no tags": (post(text="just words"), set()),
    "extra unknown fields": (post(text="#extra", payload={"a": [1, 2, {"b": None}]}), {"extra"}),
}
