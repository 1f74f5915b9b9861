"""Signature checks, stream binding, call limits and log quoting: behaviour mutation testing found unchecked.

Each test asserts what a caller sees (the outcome's ``ok``/``code``/``url``/``status``, the parsed form, a
raised error, a log line); ``scripts/mutation.py twilio_security`` (and the other module names) show which
mutants they kill.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from pipecat_twilio_realtime import (
    BodyTooLarge,
    CallLimiter,
    CallLimitReached,
    TwilioSignatureValidator,
    quote_for_log,
    read_body_capped,
    require_twilio_signature,
    watch_inactivity,
)
from pipecat_twilio_realtime.twilio.binding import BindingCheck, StreamBinder
from pipecat_twilio_realtime.twilio.security import DEFAULT_MAX_BODY_BYTES, SignatureCheck

from .. import _twilio_helpers as tw

TOKEN = "tok-0123456789abcdef-secret"
HOST = "bot.example"
SETTINGS = "x-twilio-webhooks-signature-settings"


def sign(url: str, params: dict[str, Any] | None = None, algorithm: str = "HMAC_SHA1") -> str:
    return RequestValidator(TOKEN).compute_signature(url, params or {}, algorithm)


class FakeWebSocket:
    """What the validator reads from a Starlette ``WebSocket``, and what ``close`` was called with."""

    def __init__(
        self,
        headers: dict[str, str],
        path: str = "/ws",
        scheme: str = "ws",
        query: str = "",
        client: Any = None,
    ) -> None:
        self.headers = headers
        self.url = SimpleNamespace(scheme=scheme, path=path, query=query)
        self.client = client
        self.closed: list[int] = []

    async def close(self, code: int) -> None:
        self.closed.append(code)


class FakeRequest:
    """A Starlette ``Request`` as the validator uses it: headers, URL, a streamed body."""

    def __init__(
        self,
        headers: dict[str, str],
        chunks: list[bytes],
        path: str = "/twiml",
        query: str = "",
        scheme: str = "http",
        error: Exception | None = None,
    ) -> None:
        self.headers = headers
        self.url = SimpleNamespace(scheme=scheme, path=path, query=query)
        self._chunks = chunks
        self._error = error
        self.read: list[bytes] = []

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self.read.append(chunk)
            yield chunk
        if self._error is not None:
            raise self._error


class MultiDict(dict[str, list[str]]):
    """Every value per name, the way a web framework's form hands them to the SDK (``getall``)."""

    def getall(self, key: str) -> list[str]:
        return self[key]


class BadUrl:
    """A connection whose URL Starlette cannot decode (a non-UTF-8 query)."""

    headers: dict[str, str] = {"host": HOST}  # noqa: RUF012 - read only

    @property
    def url(self) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


# ----------------------------------------------------------------------------- construction


def test_the_default_body_cap_is_64_kib() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 65536


@pytest.mark.parametrize("cap", [0, -1])
def test_a_body_cap_that_is_not_positive_is_refused(cap: int) -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        TwilioSignatureValidator(TOKEN, max_body_bytes=cap)
    TwilioSignatureValidator(TOKEN, max_body_bytes=1)


def test_repr_shows_the_settings_but_not_the_token() -> None:
    text = repr(TwilioSignatureValidator(TOKEN, public_host="Bot.Example", trust_forwarded_headers=True))
    assert text == "TwilioSignatureValidator(public_host='bot.example', trust_forwarded_headers=True)"
    assert repr(TwilioSignatureValidator(TOKEN)) == (
        "TwilioSignatureValidator(public_host=None, trust_forwarded_headers=False)"
    )


@pytest.mark.parametrize(
    "public_host", ["wss://bot.example", "WS://bot.example", "http://bot.example/", "https://bot.example//"]
)
def test_public_host_with_any_known_scheme_is_the_host(public_host: str) -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=public_host)
    assert validator.public_url("http", {"host": "10.0.0.5"}, "/twiml") == "https://bot.example/twiml"


def test_public_host_with_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="public_host"):
        TwilioSignatureValidator(TOKEN, public_host="ftp://bot.example")


def test_an_empty_public_host_means_none() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host="")
    assert validator.public_url("ws", {"host": "seen.example"}, "/ws") == "wss://seen.example/ws"


# ----------------------------------------------------------------------------- the public URL


def test_the_plain_deployment_signs_the_host_header_url_with_its_query() -> None:
    plain = TwilioSignatureValidator(TOKEN)  # no proxy: no public_host, forwarded headers not trusted
    headers = {"host": "Bot.Example:8443", "x-forwarded-host": "evil.example", "x-forwarded-proto": "gopher"}
    assert plain.public_url("https", headers, "/twiml", "a=1&b=2") == "https://bot.example:8443/twiml?a=1&b=2"
    assert plain.public_url("wss", headers, "/ws") == "wss://bot.example:8443/ws"
    assert plain.public_url("HTTP", headers, "/twiml", "") == "https://bot.example:8443/twiml"
    assert plain.public_url("WS", headers, "/ws") == "wss://bot.example:8443/ws"


def test_a_webhook_with_a_query_is_checked_against_the_url_with_it() -> None:
    plain = TwilioSignatureValidator(TOKEN)
    url = "https://bot.example/twiml?call=1"
    ws = FakeWebSocket(
        {"host": HOST, "x-twilio-signature": sign(url)}, path="/twiml", scheme="http", query="call=1"
    )
    result = plain.check_websocket(ws)
    assert result.ok and result.url == url
    without = FakeWebSocket(
        {"host": HOST, "x-twilio-signature": sign("https://bot.example/twiml")}, "/twiml", "http", "call=1"
    )
    assert plain.check_websocket(without).code == "mismatch"


def test_trusted_forwarded_host_takes_the_first_of_many_hops() -> None:
    trusting = TwilioSignatureValidator(TOKEN, trust_forwarded_headers=True)
    headers = {"host": "10.0.0.5", "x-forwarded-host": " a.example , b.example, c.example"}
    assert trusting.public_url("ws", headers, "/ws") == "wss://a.example/ws"
    assert trusting.public_url("ws", {"host": "10.0.0.5"}, "/ws") == "wss://10.0.0.5/ws"  # none: Host
    assert trusting.public_url("ws", {"host": "h", "x-forwarded-proto": "WSS, http"}, "/ws") == "wss://h/ws"


def test_a_bad_host_without_forwarding_is_bad_host_even_with_forwarded_headers() -> None:
    plain = TwilioSignatureValidator(TOKEN)
    result = plain.check_websocket(
        FakeWebSocket({"host": "a b", "x-forwarded-host": HOST, "x-twilio-signature": "x"})
    )
    assert (result.ok, result.code, result.url, result.status) == (False, "bad_host", "", 403)
    assert "Host" in result.reason or "host" in result.reason


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("h:0", False),
        ("h:1", True),
        ("h:65535", True),
        ("h:65536", False),
        ("h:123456", False),
        ("[::1]:8080", True),
        ("[::1", False),
        ("bot.example.", True),
        ("-bot.example", False),
        ("bot-.example", False),
        ("b-t.example", True),
        ("_dmarc.example", True),
        ("a" * 63 + ".example", True),
        ("a" * 64 + ".example", False),
        ("a..example", False),
        ("BOT.EXAMPLE", True),
    ],
)
def test_host_syntax(host: str, ok: bool) -> None:
    plain = TwilioSignatureValidator(TOKEN)
    if ok:
        assert plain.public_url("ws", {"host": host}, "/ws") == f"wss://{host.lower()}/ws"
    else:
        with pytest.raises(ValueError, match=r"^host ") as info:
            plain.public_url("ws", {"host": host}, "/ws")
        assert getattr(info.value, "code", "") == "bad_host"


def test_host_length_is_capped_at_260_characters() -> None:
    label = "a" * 63
    host = ".".join([label] * 4) + ":80"  # 255 + 3
    assert len(host) == 258
    plain = TwilioSignatureValidator(TOKEN)
    assert plain.public_url("ws", {"host": host}, "/ws") == f"wss://{host}/ws"
    longest = ".".join([label] * 4) + ":8080"
    assert len(longest) == 260
    assert plain.public_url("ws", {"host": longest}, "/ws") == f"wss://{longest}/ws"
    with pytest.raises(ValueError):
        plain.public_url("ws", {"host": longest + "0"}, "/ws")  # 261: refused before the pattern


def test_a_missing_host_header_is_refused() -> None:
    result = TwilioSignatureValidator(TOKEN).check_websocket(FakeWebSocket({"x-twilio-signature": "x"}))
    assert result.code == "bad_host"


def test_a_url_starlette_cannot_decode_is_bad_url() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    result = validator.check_websocket(BadUrl())
    assert (result.ok, result.code, result.url) == (False, "bad_url", "")


async def test_a_webhook_url_starlette_cannot_decode_is_bad_url() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    result = await validator.check_request(BadUrl())
    assert (result.ok, result.code, result.url) == (False, "bad_url", "")


# ----------------------------------------------------------------------------- check()


def test_outcomes_and_their_status() -> None:
    assert SignatureCheck(True, "", "u").status == 200
    assert SignatureCheck(False, "r", "u", "body_too_large").status == 413
    assert SignatureCheck(False, "r", "u", "mismatch").status == 403
    assert dict(SignatureCheck(True, "", "u").params) == {}


def test_a_valid_check_has_no_reason_or_code_and_a_missing_one_says_so() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/twiml"
    ok = validator.check(url, {"A": "1"}, {"x-twilio-signature": sign(url, {"A": "1"})})
    assert (ok.ok, ok.reason, ok.url, ok.code) == (True, "", url, "")
    missing = validator.check(url, {}, {"x-twilio-signature": ""})
    assert (missing.ok, missing.code, missing.url) == (False, "missing_signature", url)


def test_sha256_settings_in_any_case_are_honoured_and_sha1_is_the_default() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/twiml"
    sha256 = sign(url, {"A": "1"}, "HMAC_SHA256")
    assert validator.check(
        url, {"A": "1"}, {"x-twilio-signature": sha256, SETTINGS: "algorithm=HMAC_SHA256"}
    ).ok
    assert not validator.check(url, {"A": "1"}, {"x-twilio-signature": sha256}).ok  # SHA-1 expected
    mismatch = validator.check(
        url, {"A": "2"}, {"x-twilio-signature": sha256, SETTINGS: "algorithm=HMAC_SHA256"}
    )
    assert mismatch.code == "mismatch" and "HMAC_SHA256" in mismatch.reason
    bad = validator.check(url, {}, {"x-twilio-signature": sha256, SETTINGS: "algorithm=HMAC_MD5"})
    assert (bad.ok, bad.code, bad.url) == (False, "bad_algorithm", url)


def test_a_mapping_that_is_not_a_dict_is_accepted_as_params() -> None:
    from types import MappingProxyType

    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/twiml"
    params = {"CallSid": "CA1", "Digits": "12"}
    assert validator.check(url, MappingProxyType(params), {"x-twilio-signature": sign(url, params)}).ok


def test_a_url_with_a_bad_port_is_a_mismatch_not_a_traceback() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    result = validator.check("https://h:99999999/x", {}, {"x-twilio-signature": "abc"})
    assert (result.ok, result.code) == (False, "mismatch")


def test_a_json_body_passed_as_a_string_is_checked_by_its_hash() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    body = '{"CallSid": "CA1", "note": "é"}'
    digest = hashlib.sha256(body.encode()).hexdigest()
    url = f"https://bot.example/twiml?bodySHA256={digest}"
    headers = {"x-twilio-signature": sign(url)}
    good = validator.check(url, body, headers)
    assert (good.ok, good.code, good.url) == (True, "", url)
    assert validator.check(url, body + " ", headers).code == "body_hash_mismatch"
    upper = url.replace(digest, digest.upper())
    assert validator.check(upper, body, {"x-twilio-signature": sign(upper)}).ok  # hex in either case
    spaced = url.replace(digest, digest + "%20")
    assert validator.check(spaced, body, {"x-twilio-signature": sign(spaced)}).ok
    none = "https://bot.example/twiml?other=1"
    missing = validator.check(none, body, {"x-twilio-signature": sign(none)})
    assert (missing.ok, missing.code) == (False, "bad_body")
    unsigned = validator.check(url, body, {"x-twilio-signature": sign(none)})
    assert unsigned.code == "mismatch"  # the signature is checked before the hash
    empty = "https://bot.example/twiml?bodySHA256="
    assert validator.check(empty, body, {"x-twilio-signature": sign(empty)}).code == "body_hash_mismatch"


# ----------------------------------------------------------------------------- check_request()


def _form_request(
    body: bytes, query: str = "", headers: dict[str, str] | None = None, **kwargs: Any
) -> FakeRequest:
    return FakeRequest({"host": HOST, **(headers or {})}, [body[:5], body[5:]], query=query, **kwargs)


async def test_a_signed_form_webhook_passes_with_its_params() -> None:
    validator = TwilioSignatureValidator(TOKEN)  # the plain default: URL from Host
    params = {"CallSid": "CA1", "From": "+1555", "Empty": ""}
    body = b"CallSid=CA1&From=%2B1555&Empty="
    url = "https://bot.example/twiml?x=1"
    request = _form_request(body, "x=1", {"x-twilio-signature": sign(url, params)})
    result = await validator.check_request(request)
    assert (result.ok, result.code, result.url, result.reason) == (True, "", url, "")
    assert dict(result.params) == params
    assert request._body == body  # type: ignore[attr-defined]  # cached for a later request.body()


async def test_repeated_form_fields_are_all_signed_and_the_first_is_the_param() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/twiml"
    signed = RequestValidator(TOKEN).compute_signature(url, MultiDict({"A": ["1", "2"], "B": ["x"]}))
    request = _form_request(b"A=1&B=x&A=2", headers={"x-twilio-signature": signed})
    result = await validator.check_request(request)
    assert result.ok and dict(result.params) == {"A": "1", "B": "x"}


async def test_a_bad_form_signature_is_a_mismatch_with_the_params_still_parsed() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    result = await validator.check_request(_form_request(b"A=1", headers={"x-twilio-signature": "bm9wZQ=="}))
    assert (result.ok, result.code, result.url, result.status) == (
        False,
        "mismatch",
        "https://bot.example/twiml",
        403,
    )
    assert dict(result.params) == {"A": "1"}


async def test_a_body_that_is_not_utf8_is_bad_body() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    result = await validator.check_request(_form_request(b"A=\xff\xfe", headers={"x-twilio-signature": "x"}))
    assert (result.ok, result.code, result.url) == (False, "bad_body", "https://bot.example/twiml")


async def test_at_most_1000_form_fields() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/twiml"
    fields = {f"k{i}": "v" for i in range(1000)}
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    ok = await validator.check_request(_form_request(body, headers={"x-twilio-signature": sign(url, fields)}))
    assert ok.ok and len(ok.params) == 1000
    more = await validator.check_request(
        _form_request(body + b"&k1000=v", headers={"x-twilio-signature": "x"})
    )
    assert more.code == "bad_body"


async def test_the_per_request_cap_overrides_the_validators() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST, max_body_bytes=10)
    url = "https://bot.example/twiml"
    body = b"A=" + b"x" * 20
    headers = {"x-twilio-signature": sign(url, {"A": "x" * 20})}
    small = await validator.check_request(_form_request(body, headers=headers))
    assert (small.ok, small.code, small.status, small.url) == (False, "body_too_large", 413, url)
    assert (await validator.check_request(_form_request(body, headers=headers), max_body_bytes=22)).ok
    too_small = await validator.check_request(_form_request(body, headers=headers), max_body_bytes=21)
    assert too_small.code == "body_too_large"


async def test_a_bad_content_length_is_bad_body_and_a_lost_client_is_disconnected() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    bad = await validator.check_request(_form_request(b"A=1", headers={"content-length": "3x"}))
    assert (bad.ok, bad.code, bad.url) == (False, "bad_body", "https://bot.example/twiml")
    gone = await validator.check_request(_form_request(b"A=1", error=ConnectionResetError()))
    assert (gone.ok, gone.code, gone.url) == (False, "disconnected", "https://bot.example/twiml")
    assert "ConnectionResetError" in gone.reason


async def test_a_json_webhook_through_check_request() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    body = b'{"CallSid": "CA1"}'
    digest = hashlib.sha256(body).hexdigest()
    url = f"https://bot.example/twiml?bodySHA256={digest}"
    result = await validator.check_request(
        _form_request(body, query=f"bodySHA256={digest}", headers={"x-twilio-signature": sign(url)})
    )
    assert (result.ok, result.url, dict(result.params)) == (True, url, {})
    blank = "https://bot.example/twiml?bodySHA256="
    result = await validator.check_request(
        _form_request(body, query="bodySHA256=", headers={"x-twilio-signature": sign(blank)})
    )
    assert result.code == "body_hash_mismatch"  # a blank bodySHA256 is still a JSON webhook


# ----------------------------------------------------------------------------- read_body_capped()


@pytest.mark.parametrize("declared", ["١٢", "-1", "1.0", "0x10", ""])
async def test_a_content_length_that_is_not_ascii_digits_is_refused(declared: str) -> None:
    request = FakeRequest({"content-length": declared}, [b"ab"])
    with pytest.raises(ValueError, match="Content-Length") as info:
        await read_body_capped(request, 100)
    assert not isinstance(info.value, BodyTooLarge) and request.read == []


async def test_a_declared_length_at_the_cap_is_read_and_one_over_is_not() -> None:
    exact = FakeRequest({"content-length": " 10 "}, [b"x" * 10])
    assert await read_body_capped(exact, 10) == b"x" * 10
    over = FakeRequest({"content-length": "11"}, [b"x" * 11])
    with pytest.raises(BodyTooLarge, match="11 bytes"):
        await read_body_capped(over, 10)
    assert over.read == []


async def test_a_streamed_body_at_the_cap_is_read_and_one_byte_over_is_not() -> None:
    assert await read_body_capped(FakeRequest({}, [b"x" * 4, b"y" * 6]), 10) == b"xxxxyyyyyy"
    over = FakeRequest({}, [b"x" * 4, b"y" * 7, b"z" * 100])
    with pytest.raises(BodyTooLarge):
        await read_body_capped(over, 10)
    assert over.read == [b"x" * 4, b"y" * 7]  # abandoned at the chunk that passed the cap


async def test_the_default_cap_is_64_kib() -> None:
    assert len(await read_body_capped(FakeRequest({}, [b"x" * 65536]))) == 65536
    with pytest.raises(BodyTooLarge):
        await read_body_capped(FakeRequest({}, [b"x" * 65537]))


# ----------------------------------------------------------------------------- require_twilio_signature()


async def test_require_closes_an_unsigned_stream_with_1008_and_names_the_peer(logs: list[str]) -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    ws = FakeWebSocket({"x-twilio-signature": "bm9wZQ=="}, client=SimpleNamespace(host="203.0.113.9"))
    assert await require_twilio_signature(ws, validator) is False
    assert ws.closed == [1008]
    warned = [line for line in logs if "WARNING" in line and "refused a media stream" in line]
    assert len(warned) == 1 and "203.0.113.9" in warned[0] and "signature mismatch" in warned[0]
    anonymous = FakeWebSocket({})
    assert await require_twilio_signature(anonymous, validator) is False
    assert anonymous.closed == [1008] and any("refused a media stream from -:" in line for line in logs)


async def test_require_lets_a_signed_stream_through_untouched(logs: list[str]) -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    ws = FakeWebSocket({"x-twilio-signature": sign("wss://bot.example/ws")})
    assert await require_twilio_signature(ws, validator) is True
    assert ws.closed == [] and not any("WARNING" in line for line in logs)


# ----------------------------------------------------------------------------- CallLimiter


async def test_call_limiter_counts_slots_exactly() -> None:
    limiter = CallLimiter(2)
    assert (limiter.active, limiter.max_calls) == (0, 2)
    assert repr(limiter) == "CallLimiter(active=0, max_calls=2)"
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire() and limiter.active == 2
    limiter.release()
    assert limiter.active == 1 and limiter.try_acquire() and limiter.active == 2
    limiter.release()
    limiter.release()
    assert limiter.active == 0
    with pytest.raises(RuntimeError, match="without a slot"):
        limiter.release()
    assert limiter.active == 0
    async with limiter as held:
        assert held is limiter and limiter.active == 1
        async with limiter:
            assert limiter.active == 2
            with pytest.raises(CallLimitReached, match="2 calls"):
                async with limiter:
                    pass
            assert limiter.active == 2
    assert limiter.active == 0


@pytest.mark.parametrize("cap", [0, -3])
def test_call_limiter_needs_a_positive_cap(cap: int) -> None:
    with pytest.raises(ValueError, match="max_calls"):
        CallLimiter(cap)
    assert CallLimiter(1).max_calls == 1


# ----------------------------------------------------------------------------- quote_for_log


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        ("MZ0123456789abcdef0123456789abcdef", "MZ0123456789abcdef0123456789abcdef"),
        ("a_b.c:d-e", "a_b.c:d-e"),
        ("", "''"),
        ("a b", "'a b'"),
        ("a=b", "'a=b'"),
        (42, "42"),
        ("x" * 64, "x" * 64),
        ("x" * 65, repr("x" * 64 + "…")),
    ],
)
def test_quote_for_log(value: object, shown: str) -> None:
    assert quote_for_log(value) == shown


def test_quote_for_log_limit() -> None:
    assert quote_for_log("abcdef", 6) == "abcdef"
    assert quote_for_log("abcdefg", 6) == repr("abcdef…")
    assert quote_for_log("a b", 2) == repr("a …")


# ----------------------------------------------------------------------------- watch_inactivity


class Source:
    """An activity source with a settable clock (a serializer stand-in)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.last_activity_monotonic = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_inactivity_sleeps_only_the_time_left_and_fires_at_the_limit() -> None:
    source = Source()
    source.now = 104.0  # 4 s idle already
    reasons: list[str] = []

    async def on_idle(reason: str) -> None:
        reasons.append(reason)

    reason = await watch_inactivity(source, 10, on_idle, sleep=source.sleep)
    assert source.sleeps == [6.0] and source.now == 110.0  # idle exactly the limit: ended
    assert reasons == [reason] == ["no media from Twilio for 10.0 s (limit 10 s)"]


async def test_inactivity_waits_again_after_media() -> None:
    source = Source()
    reasons: list[str] = []

    async def sleep(seconds: float) -> None:
        await source.sleep(seconds)
        if len(source.sleeps) == 1:
            source.last_activity_monotonic = source.now - 2.5  # media 2.5 s before this wake-up

    async def on_idle(reason: str) -> None:
        reasons.append(reason)

    await watch_inactivity(source, 5, on_idle, sleep=sleep)
    assert source.sleeps == [5.0, 2.5] and len(reasons) == 1


async def test_inactivity_already_over_the_limit_fires_at_once() -> None:
    source = Source()
    source.now = 200.0
    reasons: list[str] = []

    async def on_idle(reason: str) -> None:
        reasons.append(reason)

    assert await watch_inactivity(source, 0.5, on_idle, sleep=source.sleep) == (
        "no media from Twilio for 100.0 s (limit 0.5 s)"
    )
    assert source.sleeps == [] and len(reasons) == 1


@pytest.mark.parametrize("limit", [0, -1, float("nan")])
async def test_inactivity_limit_must_be_positive(limit: float) -> None:
    source = Source()

    async def on_idle(reason: str) -> None:
        raise AssertionError(reason)

    with pytest.raises(ValueError, match="limit_s must be positive"):
        await watch_inactivity(source, limit, on_idle, sleep=source.sleep)


# ------------------------------------------------------------------------ found by the first mutation run


def test_a_starlette_form_with_repeated_fields_is_checked_with_every_value() -> None:
    # what ``await request.form()`` returns; Twilio signs every value of a repeated field
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/twiml"
    form = FormData([("A", "1"), ("B", "x"), ("A", "2")])
    signature = RequestValidator(TOKEN).compute_signature(url, MultiDict({"A": ["1", "2"], "B": ["x"]}))
    assert validator.check(url, form, {"x-twilio-signature": signature}).ok
    one_value = RequestValidator(TOKEN).compute_signature(url, {"A": "2", "B": "x"})
    assert not validator.check(url, form, {"x-twilio-signature": one_value}).ok


def test_a_host_over_260_characters_is_refused_even_when_well_formed() -> None:
    plain = TwilioSignatureValidator(TOKEN)
    label = "a" * 63
    just = ".".join([label] * 4) + ".bcde"  # 255 + 5 = 260
    assert len(just) == 260
    assert plain.public_url("ws", {"host": just}, "/ws") == f"wss://{just}/ws"
    over = just + "e"
    with pytest.raises(ValueError, match=r"^host "):
        plain.public_url("ws", {"host": over}, "/ws")
    assert plain.check_websocket(FakeWebSocket({"host": over, "x-twilio-signature": "x"})).code == "bad_host"


def test_a_public_host_ending_in_x_keeps_it() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host="https://BOT.EXAMPLE.BOX/")
    assert validator.public_url("http", {}, "/twiml") == "https://bot.example.box/twiml"


def test_a_bad_public_host_error_starts_with_the_field_name() -> None:
    with pytest.raises(ValueError, match=r"^public_host 'a b' is not host\[:port\]$"):
        TwilioSignatureValidator(TOKEN, public_host="a b")


async def test_a_streamed_body_over_the_cap_says_which_cap() -> None:
    with pytest.raises(BodyTooLarge, match=r"^body exceeds the 10-byte cap$"):
        await read_body_capped(FakeRequest({}, [b"x" * 11]), 10)


def test_a_mismatch_carries_the_url_and_shows_it_up_to_200_characters() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/" + "p" * (200 - len("https://bot.example/"))
    result = validator.check(url, {}, {"x-twilio-signature": "bm9wZQ=="})
    assert (result.ok, result.url, result.code) == (False, url, "mismatch")
    assert result.reason == f"signature mismatch for {url!r} (HMAC_SHA1)"  # quoted: '/' is not a bare token
    longer = url + "q"
    cut = validator.check(longer, {}, {"x-twilio-signature": "bm9wZQ=="})
    assert cut.reason == f"signature mismatch for {url + '…'!r} (HMAC_SHA1)"


@pytest.mark.parametrize("via_request", [False, True])
async def test_a_question_mark_later_in_the_query_does_not_hide_bodysha256(via_request: bool) -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    body = b'{"CallSid": "CA1"}'
    query = f"bodySHA256={hashlib.sha256(body).hexdigest()}&note=why?"
    url = f"https://bot.example/twiml?{query}"
    headers = {"x-twilio-signature": sign(url)}
    if via_request:
        result = await validator.check_request(_form_request(body, query=query, headers=headers))
    else:
        result = validator.check(url, body.decode(), headers)
    assert (result.ok, result.code, result.url) == (True, "", url)


def test_every_json_webhook_failure_is_a_403_with_its_url_and_reason() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    body = '{"CallSid": "CA1"}'
    for url, code, reason in [
        ("https://bot.example/twiml?x=1", "bad_body", "JSON webhook needs exactly one bodySHA256"),
        ("https://bot.example/twiml?bodySHA256=00", "body_hash_mismatch", "body does not match bodySHA256"),
    ]:
        result = validator.check(url, body, {"x-twilio-signature": sign(url)})
        assert result.ok is False and result.status == 403
        assert (result.code, result.url, result.reason) == (code, url, reason)


async def test_every_refusal_of_check_request_says_why() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST, max_body_bytes=4)
    plain = TwilioSignatureValidator(TOKEN)
    cases = [
        (plain, FakeRequest({"host": "a b"}, [b""]), "bad_host", "host 'a b' is not host[:port]", ""),
        (validator, BadUrl(), "bad_url", "the request URL is not UTF-8", ""),
        (validator, _form_request(b"A=12345"), "body_too_large", "body exceeds the 4-byte cap", "u"),
        (
            validator,
            _form_request(b"A=1", headers={"content-length": "x"}),
            "bad_body",
            "Content-Length x is not a number",
            "u",
        ),
        (validator, _form_request(b"A=\xff"), "bad_body", "form body is not a UTF-8 form", "u"),
    ]
    for v, request, code, reason, url in cases:
        result = await v.check_request(request)
        assert result.ok is False and (result.code, result.reason) == (code, reason), code
        assert result.url == ("https://bot.example/twiml" if url else "")


async def test_require_works_with_a_websocket_that_has_no_client_attribute() -> None:
    class Bare:
        headers: dict[str, str] = {}  # noqa: RUF012 - read only
        url = SimpleNamespace(scheme="ws", path="/ws", query="")
        closed: list[int] = []  # noqa: RUF012 - one instance

        async def close(self, code: int) -> None:
            self.closed.append(code)

    bare = Bare()
    assert await require_twilio_signature(bare, TwilioSignatureValidator(TOKEN, public_host=HOST)) is False
    assert bare.closed == [1008]


# ----------------------------------------------------------------------------- StreamBinder

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


# ----------------------------------------------------------------------------- quote_for_log, more


def test_quote_for_log_strings_are_never_converted() -> None:
    class Text(str):
        def __str__(self) -> str:
            return "converted"

    assert quote_for_log(Text("plain")) == "plain"
