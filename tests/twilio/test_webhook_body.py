"""Webhook bodies: signed form and JSON bodies, repeated fields, the body cap (declared and streamed), bad
lengths and encodings, and every refusal of ``check_request`` saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from pipecat_twilio_realtime import (
    BodyTooLarge,
    TwilioSignatureValidator,
    read_body_capped,
)
from pipecat_twilio_realtime.twilio.security import DEFAULT_MAX_BODY_BYTES

from ._security_harness import HOST, TOKEN, BadUrl, FakeWebSocket, sign


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


def test_the_default_body_cap_is_64_kib() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 65536


@pytest.mark.parametrize("cap", [0, -1])
def test_a_body_cap_that_is_not_positive_is_refused(cap: int) -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        TwilioSignatureValidator(TOKEN, max_body_bytes=cap)
    TwilioSignatureValidator(TOKEN, max_body_bytes=1)


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


async def test_a_streamed_body_over_the_cap_says_which_cap() -> None:
    with pytest.raises(BodyTooLarge, match=r"^body exceeds the 10-byte cap$"):
        await read_body_capped(FakeRequest({}, [b"x" * 11]), 10)


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
