"""A central system that misbehaves: it does not answer, answers with a CallError, answers an id nobody
asked about, answers with a CallResult that breaks the schema, or answers the wrong call. The station
applies the response timeout (MessageTimeout, errata v4.0 3.83), retries transaction-related messages per
TransactionMessageAttempts / TransactionMessageRetryInterval and nothing else (OCPP 1.6 §3.7, §9.1.31–32;
OCPP-J errata 3.3), recovers every time and logs exactly one clear line per event."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ocpp_station.protocol.rpc import CallError, ErrorCode
from ocpp_station.tools.harness.csms import NO_RESPONSE, StationCall
from tests.support.link_bench import Bench, bench, overlapping_calls

RULES = {"MessageTimeout": "1", "TransactionMessageAttempts": "3", "TransactionMessageRetryInterval": "1"}


def lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    """The station's warning-or-worse log lines that mention `needle`."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("ocpp_station") and needle in r.getMessage()
    ]


async def _online(b: Bench) -> None:
    await b.until(lambda: b.runtime.core.online, what="registration")
    await b.until(lambda: len(b.calls("StatusNotification")) >= 3, what="the boot StatusNotifications")


async def _charge(b: Bench) -> None:
    b.runtime.plug(1)
    b.runtime.present_id_tag(b.csms.settings.valid_id_tag, 1)


async def _probe(b: Bench) -> None:
    """The station still answers its central system."""
    reply = await b.csms.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert isinstance(reply, dict) and reply["configurationKey"][0]["key"] == "HeartbeatInterval"


async def test_an_unanswered_heartbeat_times_out_once_and_is_not_resent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with bench(tmp_path, overrides=RULES) as b:
        await _online(b)
        b.csms.respond_with("Heartbeat", NO_RESPONSE)
        lost: StationCall = (await b.until(lambda: b.calls("Heartbeat"), what="a heartbeat"))[0]
        await b.until(lambda: lines(caplog, lost.unique_id), timeout=3, what="the timeout line")
        # The next heartbeat is a new message, answered as usual; the lost one is never sent again.
        await b.until(lambda: len(b.calls("Heartbeat")) >= 2, timeout=5, what="the next heartbeat")
        assert [c.unique_id for c in b.calls("Heartbeat")].count(lost.unique_id) == 1
        # The late answer to the lost call: an unknown id by now (a reply to a call that timed out).
        await b.csms.send_raw(f'[3,"{lost.unique_id}",{{"currentTime":"2026-01-01T00:00:00Z"}}]')
        await _probe(b)
        assert lines(caplog, lost.unique_id) == [
            f"CP-NET: no response to Heartbeat {lost.unique_id} within 1 s (MessageTimeout): "
            "not resent (only transaction-related messages are retried, OCPP 1.6 §3.7)",
            f"CP-NET: CallResult with unknown id {lost.unique_id} ignored (no call of ours is waiting for it)",
        ]
        assert overlapping_calls(b.csms.frames, message_timeout=1.0) == []


async def test_an_unanswered_start_transaction_is_retried_per_the_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with bench(tmp_path, overrides=RULES) as b:
        await _online(b)
        b.csms.respond_with("StartTransaction", NO_RESPONSE)
        b.csms.respond_with("StartTransaction", NO_RESPONSE)
        await _charge(b)
        sent = await b.until(lambda: b.calls("StartTransaction")[2:], timeout=12, what="the third attempt")
        attempts = b.calls("StartTransaction")
        assert len({c.unique_id for c in attempts}) == 1, "a retransmission may reuse its id (J-errata 3.1)"
        # Resent after MessageTimeout + RetryInterval × previous transmissions (1 s, then 2 s).
        assert attempts[1].received_at - attempts[0].received_at >= 1 + 1 - 0.1
        assert attempts[2].received_at - attempts[1].received_at >= 1 + 2 - 0.1
        assert isinstance(sent[0].response, dict) and b.runtime.core.connectors[0].transaction is not None

        def transaction_id() -> int | None:
            transaction = b.runtime.core.connectors[0].transaction
            assert transaction is not None
            return transaction.transaction_id

        await b.until(transaction_id, what="the transactionId")
        uid = attempts[0].unique_id
        assert lines(caplog, uid) == [
            f"CP-NET: no response to StartTransaction {uid} within 1 s (MessageTimeout): "
            "attempt 1 of 3 failed, resent in 1 s (TransactionMessageRetryInterval)",
            f"CP-NET: no response to StartTransaction {uid} within 1 s (MessageTimeout): "
            "attempt 2 of 3 failed, resent in 2 s (TransactionMessageRetryInterval)",
        ]
        await _probe(b)
        assert overlapping_calls(b.csms.frames, message_timeout=1.0) == []


async def test_callerrors_for_a_stop_transaction_end_in_dropping_it_after_the_last_attempt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = {**RULES, "TransactionMessageAttempts": "2"}
    async with bench(tmp_path, overrides=rules) as b:
        await _online(b)
        await _charge(b)
        await b.until(lambda: b.calls("StartTransaction"), what="StartTransaction")
        boom = CallError("", ErrorCode.INTERNAL_ERROR, "database down")
        b.csms.respond_with("StopTransaction", boom, once=False)
        b.runtime.unplug(1)
        await b.until(lambda: b.calls("StopTransaction")[1:], timeout=6, what="the second attempt")
        await b.until(lambda: b.runtime.core.store.queue_length() == 0, what="the queue to move on")
        stops = b.calls("StopTransaction")
        uid = stops[0].unique_id
        assert lines(caplog, uid) == [
            f"CP-NET: StopTransaction {uid} answered with CallError InternalError 'database down': "
            "attempt 1 of 2 failed, resent in 1 s (TransactionMessageRetryInterval)",
            f"CP-NET: StopTransaction {uid} answered with CallError InternalError 'database down': "
            "dropped after 2 failed attempt(s) (TransactionMessageAttempts 2)",
        ]
        b.csms.reset_responses("StopTransaction")
        await _probe(b)
        assert len(b.calls("StopTransaction")) == 2


async def test_invalid_stray_and_misdirected_results_are_logged_once_and_survived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with bench(tmp_path, overrides=RULES) as b:
        await _online(b)
        # 1. A CallResult that fails the schema, for a message that is not transaction-related: not resent.
        b.csms.respond_with("StatusNotification", {"unexpected": True})
        b.runtime.plug(2)
        bad = await b.until(lambda: b.calls("StatusNotification")[3:], what="the plug's StatusNotification")
        uid = bad[0].unique_id
        await b.until(lambda: lines(caplog, uid), what="the invalid-result line")
        # 2. A CallResult nobody asked for.
        await b.csms.send_raw('[3,"never-sent-by-the-station",{}]')
        # 3. The answer to another call: a BootNotification.conf in reply to a Heartbeat.
        b.csms.respond_with("Heartbeat", {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 2})
        beat = await b.until(lambda: b.calls("Heartbeat"), timeout=5, what="a heartbeat")
        await b.until(lambda: lines(caplog, beat[0].unique_id), what="the misdirected-reply line")
        # 4. A CallError with an id nobody asked about.
        await b.csms.send_raw('[4,"no-such-call","GenericError","",{}]')
        await _probe(b)
        assert lines(caplog, uid) == [
            f"CP-NET: StatusNotification {uid} answered with an invalid CallResult "
            "(payload: Additional properties are not allowed ('unexpected' was unexpected)): "
            "not resent (only transaction-related messages are retried, OCPP 1.6 §3.7)"
        ]
        assert len(lines(caplog, "never-sent-by-the-station")) == 1
        assert len(lines(caplog, beat[0].unique_id)) == 1
        assert "Heartbeat" in lines(caplog, beat[0].unique_id)[0]
        assert lines(caplog, "no-such-call") == [
            "CP-NET: CallError with unknown id no-such-call ignored (no call of ours is waiting for it)"
        ]
        assert [c.unique_id for c in b.calls("StatusNotification")].count(uid) == 1
        # Still working: status and heartbeats go on.
        b.runtime.unplug(2)
        await b.until(lambda: b.calls("StatusNotification")[4:], what="status after the misbehaviour")
        assert overlapping_calls(b.csms.frames, message_timeout=1.0) == []
