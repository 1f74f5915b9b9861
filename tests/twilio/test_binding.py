"""StreamBinder: a stream is bound to its call only by a fresh token minted for that call's SIDs."""

from __future__ import annotations

import base64
from types import MappingProxyType
from typing import Any

import pytest

from pipecat_twilio_realtime import BINDING_PARAMETER, StreamBinder
from pipecat_twilio_realtime.twilio import protocol as tp

from .. import _twilio_helpers as tw

SECRET = "tok-0123456789abcdef-secret"
OTHER_CALL = "CA" + "ab" * 16
OTHER_ACCOUNT = "AC" + "cd" * 16


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def binder(clock: FakeClock | None = None, secret: str = SECRET, ttl_s: float = 300) -> StreamBinder:
    return StreamBinder(secret, ttl_s=ttl_s, clock=clock or FakeClock())


def test_a_token_binds_exactly_its_call_and_account() -> None:
    b = binder()
    token = b.mint(tw.CALL_SID, tw.ACCOUNT_SID)
    assert len(token) < 100 and SECRET not in token
    assert b.verify(token, tw.CALL_SID, tw.ACCOUNT_SID).ok
    assert b.verify(token, OTHER_CALL, tw.ACCOUNT_SID).reason == "wrong_call"
    assert b.verify(token, tw.CALL_SID, OTHER_ACCOUNT).reason == "wrong_account"
    # another process with the same secret (behind a load balancer) accepts it too
    assert binder().verify(token, tw.CALL_SID, tw.ACCOUNT_SID).ok


def test_tokens_expire_after_ttl() -> None:
    clock = FakeClock()
    b = binder(clock, ttl_s=300)
    token = b.mint(tw.CALL_SID, tw.ACCOUNT_SID)
    clock.now += 300
    assert b.verify(token, tw.CALL_SID, tw.ACCOUNT_SID).ok
    clock.now += 2
    check = b.verify(token, tw.CALL_SID, tw.ACCOUNT_SID)
    assert not check.ok and check.reason == "expired" and "expired" in check.detail


def test_a_token_from_another_secret_or_altered_is_tampered() -> None:
    token = binder(secret="another-secret-0123456789").mint(tw.CALL_SID, tw.ACCOUNT_SID)
    assert binder().verify(token, tw.CALL_SID, tw.ACCOUNT_SID).reason == "tampered"
    good = binder().mint(tw.CALL_SID, tw.ACCOUNT_SID)
    raw = bytearray(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
    for index in (1, 9, 9 + 15, len(raw) - 1):  # expiry, call SID, account SID, MAC
        altered = bytearray(raw)
        altered[index] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(altered)).rstrip(b"=").decode()
        assert binder().verify(forged, tw.CALL_SID, tw.ACCOUNT_SID).reason == "tampered", index
    # re-pointing a token at another call means rewriting its SID: the MAC catches that first
    swapped = bytes(raw[:9]) + bytes.fromhex(OTHER_CALL[2:]) + bytes(raw[25:])
    forged = base64.urlsafe_b64encode(swapped).rstrip(b"=").decode()
    assert binder().verify(forged, OTHER_CALL, tw.ACCOUNT_SID).reason == "tampered"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        (123, "malformed"),
        ("not base64 !", "malformed"),
        ("abc", "malformed"),
        ("A" * 10_000, "malformed"),
        ("é" * 20, "malformed"),
        ("AAAA\nAAAA", "malformed"),
        (base64.urlsafe_b64encode(b"\x02" + bytes(72)).rstrip(b"=").decode(), "bad_version"),
    ],
)
def test_malformed_tokens_fail_with_a_reason_and_never_raise(token: Any, reason: str) -> None:
    check = binder().verify(token, tw.CALL_SID, tw.ACCOUNT_SID)
    assert not check.ok and check.reason == reason
    if isinstance(token, str) and token:
        assert token not in check.detail


def test_the_stream_sids_must_be_twilio_sids() -> None:
    b = binder()
    token = b.mint(tw.CALL_SID, tw.ACCOUNT_SID)
    for call, account in [
        ("CA" + "AB" * 16, tw.ACCOUNT_SID),  # Twilio SIDs are lower-case hex
        (tw.CALL_SID + "\n", tw.ACCOUNT_SID),
        (None, tw.ACCOUNT_SID),
        (tw.CALL_SID, tw.CALL_SID),
    ]:
        assert b.verify(token, call, account).reason == "bad_sid"
    assert b.verify(token, "CA" + "0" * 31 + "G", tw.ACCOUNT_SID).reason == "bad_sid"
    with pytest.raises(ValueError, match="Twilio SIDs"):
        b.mint("CA123", tw.ACCOUNT_SID)
    with pytest.raises(ValueError, match="Twilio SIDs"):
        b.mint(tw.ACCOUNT_SID, tw.CALL_SID)


def test_configuration_errors_are_named_and_the_secret_stays_out_of_repr() -> None:
    with pytest.raises(ValueError, match="secret"):
        StreamBinder("short")
    with pytest.raises(ValueError, match="ttl_s"):
        StreamBinder(SECRET, ttl_s=0)
    assert SECRET not in repr(binder())


def test_verify_start_reads_the_parameter_from_twilios_start_message() -> None:
    b = binder()
    token = b.mint(tw.CALL_SID, tw.ACCOUNT_SID)
    start = tp.parse_message(tw.start(**{BINDING_PARAMETER: token}))
    assert isinstance(start, tp.Start)
    assert b.verify_start(start).ok
    replayed = tp.parse_message(tw.start(**{BINDING_PARAMETER: token}).replace(tw.CALL_SID, OTHER_CALL))
    assert b.verify_start(replayed).reason == "wrong_call"
    bare = tp.parse_message(tw.start())
    assert b.verify_start(bare).reason == "missing"

    class Odd:
        custom_parameters = MappingProxyType({BINDING_PARAMETER: token})

    assert b.verify_start(Odd()).reason == "bad_sid"
    assert b.verify_start(object()).reason == "missing"
