"""Secrets scrubbed from messages, log records and replies; the ledger survives a torn row."""

import json
import logging

from bmc.llm import redact
from bmc.llm.endpoint import retry_after
from bmc.llm.ledger import Ledger, read_rows, totals

KEY = "sk-unit-0a1b2c3d4e5f"


def test_scrub_masks_keys_and_header_values_but_replies_keep_their_words():
    redact.register(KEY)
    assert (
        redact.scrub(f"HTTP 400: got Authorization: Bearer {KEY}")
        == "HTTP 400: got Authorization: Bearer ***"
    )
    assert redact.scrub('{"api-key": "other-secret", "x": 1}') == '{"api-key": "***", "x": 1}'
    assert redact.scrub("x-api-key=abc123; next") == "x-api-key=***; next"
    reply = f'client = Client(api_key="YOUR_KEY")  # not {KEY}'
    assert redact.scrub_exact(reply) == 'client = Client(api_key="YOUR_KEY")  # not ***'


def test_every_log_record_is_scrubbed_whoever_logs_it(caplog):
    redact.register(KEY)
    with caplog.at_level("INFO"):
        redact.install_log_filter()  # caplog's handler joined the root logger after the first registration
        logging.getLogger("some.library").info("request headers %s", {"Authorization": f"Bearer {KEY}"})
        try:
            raise ValueError(f"echoed {KEY}")
        except ValueError:
            logging.getLogger("other").exception("failed")
    assert KEY not in caplog.text and "Bearer ***" in caplog.text and "echoed ***" in caplog.text


def test_retry_after_reads_seconds_milliseconds_and_dates():
    assert retry_after({"retry-after": "2"}) == 2.0 and retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None


def test_a_torn_ledger_row_is_skipped_and_the_next_rows_stay_whole(tmp_path):
    redact.register(KEY)
    first = Ledger(tmp_path)
    attempt = first.sent("k1", "m")
    first.done(attempt, "k1", "ok", 200, 10, 5, 0.1)
    first.sent("k2", "m")
    first.close()
    with open(tmp_path / "ledger.jsonl", "a") as f:
        f.write('{"t": 1, "run": "killed", "attempt": "x", "key": "k2", "ev')  # killed mid-write
    second = Ledger(tmp_path)
    attempt = second.sent("k2", "m")
    second.done(attempt, "k2", "HTTP 500", 500, detail=f"echo {KEY}")
    second.close()
    rows = read_rows(tmp_path)
    assert len(rows) == 5 and all(json.dumps(r) for r in rows)
    assert totals(tmp_path, ["k1", "k2"]) == {
        "requests": 3, "ok": 1, "failed": 1, "unanswered": 1,
        "prompt_tokens": 10, "completion_tokens": 5, "runs": 2,
    }  # fmt: skip
    assert totals(tmp_path, ["k1"])["requests"] == 1 and KEY not in (tmp_path / "ledger.jsonl").read_text()
