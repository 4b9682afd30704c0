"""IDP_REDIS_URL: plain Redis URLs and Sentinel URLs (the parsing; the real Sentinel is in
tests/integration/test_redis_sentinel.py)."""

from __future__ import annotations

import pytest

from idp.stores import parse_sentinel_url


def test_sentinel_url_with_several_sentinels_a_service_and_a_db():
    spec = parse_sentinel_url("redis+sentinel://s1.example:26379,s2.example:26380,s3.example"
                              "/mymaster/2")
    assert spec["sentinels"] == [("s1.example", 26379), ("s2.example", 26380),
                                 ("s3.example", 26379)]
    assert spec["service"] == "mymaster" and spec["db"] == 2
    assert spec["password"] is None and spec["ssl"] is False


def test_sentinel_url_defaults_the_db_and_reads_credentials_and_options():
    spec = parse_sentinel_url("rediss+sentinel://idp:p%40ss@[2001:db8::1]:26379,10.0.0.2/m"
                              "?sentinel_password=s3cret")
    assert spec["sentinels"] == [("2001:db8::1", 26379), ("10.0.0.2", 26379)]
    assert spec["db"] == 0 and spec["service"] == "m"
    assert (spec["username"], spec["password"]) == ("idp", "p@ss")
    assert spec["sentinel_password"] == "s3cret" and spec["ssl"] is True


@pytest.mark.parametrize(("url", "message"), [
    ("redis://127.0.0.1:6379/0", "not a Sentinel URL"),
    ("redis+sentinel://127.0.0.1:26379", "names the master"),
    ("redis+sentinel://127.0.0.1:26379/", "names the master"),
    ("redis+sentinel://127.0.0.1:26379/m/0/extra", "names the master"),
    ("redis+sentinel://127.0.0.1:26379/m/zero", "invalid literal"),
    ("redis+sentinel://127.0.0.1:port/m", "invalid literal"),
    ("redis+sentinel://,/m", "at least one HOST"),
    ("redis+sentinel://127.0.0.1/m?timeout=3", "unknown Sentinel URL option"),
])
def test_malformed_sentinel_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(ValueError, match=message):
        parse_sentinel_url(url)
