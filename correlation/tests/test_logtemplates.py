"""Log templates: masking by shape, generalising positions, stable ids, parameters, the command."""
import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from correlation import logtemplates
from correlation.logtemplates import MIN_VALUES, WILDCARD, TemplateMiner, tokenize


def test_values_are_masked_by_shape_and_collapse_into_one_wildcard():
    assert tokenize("Connection from 10.1.2.3:5432 user=bob took 25 ms") == [
        "Connection", "from", WILDCARD, "user=bob", "took", WILDCARD]
    assert tokenize("req 3fa85f64-5717-4562-b3fc-2c963f66afa6 GET http://x.example/a?b=1 -> /var/log/app.log") == [
        "req", WILDCARD, "GET", WILDCARD, "->", WILDCARD]
    # A value keeps its key, brackets stop it; an empty pair of brackets is an (empty) value.
    assert tokenize("session opened by (uid=0) for blk_-1234 at Sun Jul 17 23:21:54 2005 ()") == [
        "session", "opened", "by", "(uid=<*>)", "for", WILDCARD, "at", WILDCARD]


def test_messages_of_one_event_share_a_template_and_give_their_parameters():
    miner = TemplateMiner()
    first = miner.add("Received block blk_123 of size 67108864 from /10.250.19.102")
    second = miner.add("Received block blk_-998 of size 3 from /10.250.11.53")
    assert first.created and not second.created
    assert first.template_id == second.template_id
    assert second.template == "Received block <*> of size <*> from <*>"
    assert second.parameters == ["blk_-998", "3", "/10.250.11.53"]


def test_two_or_three_words_at_a_place_are_distinct_events():
    miner = TemplateMiner()
    a = miner.add("Block rdd_1 stored as bytes in memory")
    b = miner.add("Block rdd_2 stored as values in memory")
    assert a.template_id != b.template_id


def test_a_position_with_many_distinct_words_becomes_a_parameter_and_old_ids_follow():
    miner = TemplateMiner()
    users = ["alice", "bob", "carol", "dave", "erin", "frank"][:MIN_VALUES]
    ids = [miner.add(f"session opened for user {u} by (uid=0)").template_id for u in users]
    assert len(set(ids[:-1])) == MIN_VALUES - 1  # distinct until proven a parameter
    merged = {miner.resolve(i) for i in ids}
    assert len(merged) == 1
    live = miner.templates[merged.pop()]
    assert live.text == "session opened for user <*> by (uid=<*>)"
    later = miner.add("session opened for user zoe by (uid=1000)")
    assert later.template_id == live.id and later.parameters == ["zoe", "1000"]


def test_the_first_word_names_the_event_and_never_generalises():
    miner = TemplateMiner()
    ids = {miner.add(f"{daemon} startup succeeded").template_id for daemon in ("cupsd", "sshd", "crond", "xinetd", "ntpd", "named")}
    assert len({miner.resolve(i) for i in ids}) == 6


def test_a_value_that_takes_a_different_number_of_tokens_stays_in_its_template():
    miner = TemplateMiner()
    a = miner.add("a.example.org:443 close, 474 bytes sent, 4042 bytes (3.94 KB) received, lifetime <1 sec")
    b = miner.add("b.example.org:443 close, 12 bytes sent, 90 bytes received, lifetime 00:01")
    assert a.template_id == b.template_id
    assert b.template == "<*> close, <*> sent, <*> received, lifetime <*>"


def test_match_only_looks_and_state_round_trips():
    miner = TemplateMiner()
    for n in range(3):
        miner.add(f"worker {n} started in {n * 10} ms")
    assert miner.match("disk quota exceeded") is None
    assert len(miner.templates) == 1
    found = miner.match("worker 9 started in 3 ms")
    assert found is not None and found.parameters == ["9", "3 ms"]

    restored = TemplateMiner.from_dict(json.loads(json.dumps(miner.to_dict())))
    assert restored.add("worker 12 started in 7 ms").template_id == miner.add("worker 12 started in 7 ms").template_id
    assert restored.add("disk quota exceeded").template_id == miner.add("disk quota exceeded").template_id


def test_empty_and_oversized_messages_are_handled():
    miner = TemplateMiner()
    assert miner.add("").template == ""
    huge = miner.add("x " * 50_000)
    assert len(huge.template) <= 4000


def test_mine_templates_writes_line_event_template_csv(tmp_path):
    src = tmp_path / "app.log"
    src.write_text("worker 1 started\r\nworker 22 started\r\ndisk full on /dev/sda1\r\n", encoding="utf-8")
    out = tmp_path / "templates.csv"
    call_command("mine_templates", str(src), "--output", str(out), "--quiet")
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["LineId"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["EventId"] == rows[1]["EventId"] != rows[2]["EventId"]
    assert rows[0]["EventTemplate"] == "worker <*> started"
    assert rows[2]["EventTemplate"] == "disk full on <*>"


def test_mine_templates_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("mine_templates", str(tmp_path / "nope.log"), "--output", str(tmp_path / "o.csv"), "--quiet")


def test_a_line_seen_again_is_tokenised_from_the_cache_with_the_same_result():
    lines = [f"GET /api/orders/{i % 7} 200 in {i % 3}ms" for i in range(40)] + ["health check ok"] * 5 + [
        f"user {name} logged in" for name in ("ann", "bob", "cy", "dee", "eve", "fay", "ann")]
    uncached = TemplateMiner()
    uncached.tokens = lambda line: tuple(tokenize(line))  # every line masked and split again
    expected = [uncached.add(line) for line in lines]
    miner = TemplateMiner()
    assert [miner.add(line) for line in lines] == expected
    assert miner.tokens("health check ok") == tuple(tokenize("health check ok"))
    assert len(miner._tokens) == len(set(lines))  # each distinct line once


def test_the_token_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(logtemplates, "TOKEN_CACHE_LINES", 10)
    miner = TemplateMiner()
    for i in range(25):
        miner.add(f"job {i} done")
    miner.add("x" * (logtemplates.TOKEN_CACHE_CHARS + 1))
    assert 0 < len(miner._tokens) <= 10 and "x" * (logtemplates.TOKEN_CACHE_CHARS + 1) not in miner._tokens
