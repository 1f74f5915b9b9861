"""StreamBinder: a stream is bound to its call only by a fresh token minted for that call's SIDs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest

from pipecat_twilio_realtime import (
    BINDING_PARAMETER,
    StreamBinder,
)
from pipecat_twilio_realtime.twilio import protocol as tp
from pipecat_twilio_realtime.twilio.binding import BindingCheck

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


SECRET = "tok-0123456789abcdef-secret"


OTHER_CALL = "CA" + "ab" * 16


OTHER_ACCOUNT = "AC" + "cd" * 16


NOW = 1_800_000_000.0


def _binder(secret: str | bytes = SECRET, ttl_s: float = 300, now: list[float] | None = None) -> StreamBinder:
    clock = now if now is not None else [NOW]
    return StreamBinder(secret, ttl_s=ttl_s, clock=lambda: clock[0])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_is_the_documented_format() -> None:
    # base64url(version ‖ expiry ‖ call SID ‖ account SID ‖ HMAC-SHA256), keyed by a sub-key of the secret
    token = _binder().mint(tw.CALL_SID, tw.ACCOUNT_SID)
    key = hmac.new(SECRET.encode(), b"pipecat-twilio-realtime/stream-binding/v1", hashlib.sha256).digest()
    body = (
        struct.pack(">BQ", 1, int(NOW + 300) + 1)
        + bytes.fromhex(tw.CALL_SID[2:])
        + bytes.fromhex(tw.ACCOUNT_SID[2:])
    )
    assert token == _b64(body + hmac.new(key, body, hashlib.sha256).digest())


def test_a_bytes_secret_is_the_same_secret() -> None:
    token = _binder(SECRET.encode()).mint(tw.CALL_SID, tw.ACCOUNT_SID)
    assert token == _binder(SECRET).mint(tw.CALL_SID, tw.ACCOUNT_SID)
    assert _binder(bytearray(SECRET.encode())).verify(token, tw.CALL_SID, tw.ACCOUNT_SID).ok


def test_secret_and_ttl_bounds() -> None:
    StreamBinder("s" * 16)
    StreamBinder(b"s" * 16)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        StreamBinder("s" * 15)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        StreamBinder("é" * 7 + "s")  # 15 bytes in UTF-8, 8 characters
    assert StreamBinder("é" * 8).ttl_s == 300.0  # 16 bytes
    assert StreamBinder(SECRET, ttl_s=0.5).ttl_s == 0.5
    for ttl in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="ttl_s must be positive"):
            StreamBinder(SECRET, ttl_s=ttl)
    assert repr(StreamBinder(SECRET, ttl_s=90)) == "StreamBinder(ttl_s=90)"


def test_a_token_is_valid_up_to_its_expiry_second() -> None:
    now = [NOW]
    binder = _binder(ttl_s=300, now=now)
    token = binder.mint(tw.CALL_SID, tw.ACCOUNT_SID)
    now[0] = NOW + 301  # the expiry itself (ttl rounded up to the next whole second)
    assert binder.verify(token, tw.CALL_SID, tw.ACCOUNT_SID) == BindingCheck(True)
    now[0] = NOW + 301.5
    check = binder.verify(token, tw.CALL_SID, tw.ACCOUNT_SID)
    assert (check.ok, check.reason, check.detail) == (False, "expired", "the binding token expired 0 s ago")
    now[0] = NOW + 400
    assert binder.verify(token, tw.CALL_SID, tw.ACCOUNT_SID).detail == "the binding token expired 99 s ago"


def test_every_failure_is_not_ok_with_a_reason_and_a_sentence() -> None:
    binder = _binder()
    token = binder.mint(tw.CALL_SID, tw.ACCOUNT_SID)
    raw = base64.urlsafe_b64decode(token + "==")
    tampered = _b64(raw[:-1] + bytes([raw[-1] ^ 1]))
    cases: list[tuple[Any, str, str, str, str]] = [
        (None, tw.CALL_SID, tw.ACCOUNT_SID, "missing", "no 'stream_binding' parameter on the stream"),
        ("", tw.CALL_SID, tw.ACCOUNT_SID, "missing", "no 'stream_binding' parameter on the stream"),
        (7, tw.CALL_SID, tw.ACCOUNT_SID, "malformed", "the binding token is not a short string"),
        ("A" * 201, tw.CALL_SID, tw.ACCOUNT_SID, "malformed", "the binding token is not a short string"),
        ("A+B", tw.CALL_SID, tw.ACCOUNT_SID, "malformed", "the binding token is not URL-safe base64"),
        ("A", tw.CALL_SID, tw.ACCOUNT_SID, "malformed", "the binding token is not URL-safe base64"),
        ("AAAA", tw.CALL_SID, tw.ACCOUNT_SID, "malformed", "the binding token has the wrong length"),
        (
            _b64(b"\x02" + raw[1:]),
            tw.CALL_SID,
            tw.ACCOUNT_SID,
            "bad_version",
            "binding token version 2 is not 1",
        ),
        (
            tampered,
            tw.CALL_SID,
            tw.ACCOUNT_SID,
            "tampered",
            "the binding token's MAC does not match (altered, or another secret)",
        ),
        (token, "CA1", tw.ACCOUNT_SID, "bad_sid", "the stream's callSid/accountSid are not Twilio SIDs"),
        (token, OTHER_CALL, tw.ACCOUNT_SID, "wrong_call", "the binding token was minted for another call"),
        (
            token,
            tw.CALL_SID,
            OTHER_ACCOUNT,
            "wrong_account",
            "the binding token was minted for another account",
        ),
    ]
    for value, call, account, reason, detail in cases:
        check = binder.verify(value, call, account)
        assert (check.ok, check.reason, check.detail) == (False, reason, detail), reason
    assert (
        len("A" * 200) == 200 and binder.verify("A" * 200, tw.CALL_SID, tw.ACCOUNT_SID).reason == "malformed"
    )


def test_verify_start_with_parameters_that_are_not_a_mapping() -> None:
    binder = _binder()
    assert binder.verify_start(SimpleNamespace(custom_parameters=["stream_binding"])).reason == "missing"
    assert binder.verify_start(SimpleNamespace(custom_parameters=None)).reason == "missing"
