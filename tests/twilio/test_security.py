"""Twilio signature checks: the validator, hostile headers, capped bodies (app: test_example_security)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from twilio.request_validator import RequestValidator

from pipecat_twilio_realtime import (
    BodyTooLarge,
    TwilioSignatureValidator,
    read_body_capped,
)
from pipecat_twilio_realtime.twilio.security import SignatureCheck

from .. import _twilio_helpers as tw
from .._twilio_helpers import serve
from ._security_harness import HOST, TOKEN, BadUrl, FakeWebSocket, sign


def test_validator_accepts_twilio_signatures_and_names_failures() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    params = {"CallSid": "CA1", "From": "+15551234567"}
    url = f"https://{HOST}/twiml"
    assert validator.check(url, params, {"x-twilio-signature": sign(url, params)}).ok
    tampered = validator.check(url, {**params, "From": "+1999"}, {"x-twilio-signature": sign(url, params)})
    assert not tampered.ok and "signature mismatch for 'https://bot.example/twiml'" in tampered.reason
    assert validator.check(url, params, {}).reason == "missing X-Twilio-Signature header"
    sha256 = RequestValidator(TOKEN).compute_signature(url, params, "HMAC_SHA256")
    settings = {
        "x-twilio-signature": sha256,
        "x-twilio-webhooks-signature-settings": "key=k1,algorithm=HMAC_SHA256",
    }
    assert validator.check(url, params, settings).ok
    assert TOKEN not in repr(validator)
    with pytest.raises(ValueError, match="auth_token"):
        TwilioSignatureValidator("")


def test_public_url_behind_a_proxy() -> None:
    trusting = TwilioSignatureValidator(TOKEN, trust_forwarded_headers=True)
    headers = {"host": "10.0.0.5:8765", "x-forwarded-proto": "https", "x-forwarded-host": "bot.example"}
    assert trusting.public_url("ws", headers, "/ws") == "wss://bot.example/ws"
    assert trusting.public_url("http", headers, "/twiml", "a=1") == "https://bot.example/twiml?a=1"
    wary = TwilioSignatureValidator(TOKEN)  # the default: forwarded headers are client input
    assert wary.public_url("ws", headers, "/ws") == "wss://10.0.0.5:8765/ws"
    pinned = TwilioSignatureValidator(TOKEN, public_host="https://pinned.example/")
    assert pinned.public_url("ws", headers, "/ws") == "wss://pinned.example/ws"


# ----------------------------------------------------------------------------- issue 11: hostile headers


class FakeConnection:
    """What the validator reads from a Starlette ``WebSocket``: headers and the URL the app saw."""

    def __init__(
        self, headers: dict[str, str], path: str = "/ws", scheme: str = "ws", query: str = ""
    ) -> None:

        self.headers = headers
        self.url = SimpleNamespace(scheme=scheme, path=path, query=query)


def test_pinned_host_ignores_every_forwarded_header() -> None:
    url = f"wss://{HOST}/ws"
    for trust in (False, True):
        pinned = TwilioSignatureValidator(TOKEN, public_host=HOST, trust_forwarded_headers=trust)
        for headers in (
            {"x-forwarded-proto": "HTTPS", "x-forwarded-host": "attacker.example"},
            {"x-forwarded-proto": "https://attacker.example/x#", "host": "attacker.example"},
            {"x-forwarded-host": "h:abc", "host": "?xbodySHA256=1"},
        ):
            result = pinned.check_websocket(FakeConnection({**headers, "x-twilio-signature": sign(url)}))
            assert result.ok and result.url == url, (trust, headers)


@pytest.mark.parametrize(
    "public_host", [HOST, f"wss://{HOST}", f"https://{HOST}/", f"  WSS://{HOST.upper()}/ ", f"{HOST}."[:-1]]
)
def test_public_host_spellings_are_normalised(public_host: str) -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=public_host)
    assert validator.public_url("ws", {"host": "10.0.0.5"}, "/ws") == f"wss://{HOST}/ws"


@pytest.mark.parametrize("public_host", ["bot.example/path", "a b", "https://", "bot.example:99999", "u@h"])
def test_bad_public_host_is_a_configuration_error(public_host: str) -> None:
    with pytest.raises(ValueError, match="public_host"):
        TwilioSignatureValidator(TOKEN, public_host=public_host)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"x-forwarded-proto": "https://attacker.example/x#"}, "bad_forwarded_proto"),
        ({"x-forwarded-proto": "gopher"}, "bad_forwarded_proto"),
        ({"x-forwarded-proto": ""}, "bad_forwarded_proto"),
        ({"x-forwarded-host": "h:abc"}, "bad_forwarded_host"),
        ({"x-forwarded-host": "h:99999"}, "bad_forwarded_host"),
        ({"x-forwarded-host": "attacker.example/x#"}, "bad_forwarded_host"),
        ({"x-forwarded-host": "a?bodySHA256=1"}, "bad_forwarded_host"),
        ({"x-forwarded-host": "user@bot.example"}, "bad_forwarded_host"),
        ({"x-forwarded-host": "bot example"}, "bad_forwarded_host"),
        ({"x-forwarded-host": "bot.example\r\nERROR forged"}, "bad_forwarded_host"),
        ({"x-forwarded-host": ""}, "bad_forwarded_host"),
    ],
)
def test_trusted_forwarded_headers_are_validated_not_used_verbatim(
    headers: dict[str, str], code: str
) -> None:
    trusting = TwilioSignatureValidator(TOKEN, trust_forwarded_headers=True)
    conn = FakeConnection({"host": "10.0.0.5:8765", **headers, "x-twilio-signature": sign("wss://x/ws")})
    result = trusting.check_websocket(conn)
    assert not result.ok and result.code == code and result.status == 403
    assert "\n" not in result.reason and "\r" not in result.reason


def test_trusted_forwarded_headers_normalise_case_and_take_the_first_hop() -> None:
    trusting = TwilioSignatureValidator(TOKEN, trust_forwarded_headers=True)
    headers = {
        "host": "10.0.0.5",
        "x-forwarded-proto": " HTTPS , http",
        "x-forwarded-host": "Bot.Example, evil.example",
    }
    assert trusting.public_url("http", headers, "/twiml") == f"https://{HOST}/twiml"
    assert trusting.public_url("ws", headers, "/ws") == f"wss://{HOST}/ws"
    # the scheme is always the secure one: Twilio calls nothing else
    assert trusting.public_url("ws", {**headers, "x-forwarded-proto": "http"}, "/ws") == f"wss://{HOST}/ws"


@pytest.mark.parametrize("host", ["h:abc", "evil/x", "a#b", "?xbodySHA256=1", "a b", "", "x\x00y", "[zz]"])
def test_a_hostile_host_header_fails_without_trusting_anything(host: str) -> None:
    wary = TwilioSignatureValidator(TOKEN)
    result = wary.check_websocket(FakeConnection({"host": host, "x-twilio-signature": "bm9wZQ=="}))
    assert not result.ok and result.code == "bad_host" and result.url == ""


def test_unsupported_algorithm_and_junk_signature_fail_quietly() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = f"https://{HOST}/twiml"
    bad = validator.check(url, {}, {"x-twilio-signature": "x", SETTINGS: "algorithm=MD5\nERROR"})
    assert bad.code == "bad_algorithm" and "\n" not in bad.reason
    assert validator.check(url, {}, {"x-twilio-signature": "\x00" * 5000}).code == "mismatch"


SETTINGS = "x-twilio-webhooks-signature-settings"


# ----------------------------------------------------------------------------- webhook bodies over real HTTP


def security_app(validator: TwilioSignatureValidator, seen: dict[str, int]) -> Any:
    """One route checking webhooks, one reading a capped body; counts body bytes the app pulled."""
    app = FastAPI()

    @app.post("/twiml")
    async def twiml(request: Request) -> Response:
        check = await validator.check_request(request)
        # the capped read is cached: later reads of a checked request still work
        again = await request.body() if check.ok else b""
        form = await request.form() if check.ok else {}
        return JSONResponse(
            {
                "ok": check.ok,
                "code": check.code,
                "params": dict(check.params),
                "again": len(again),
                "form": dict(form),
            },
            status_code=check.status,
        )

    @app.post("/capped")
    async def capped(request: Request) -> Response:
        try:
            body = await read_body_capped(request, 64 * 1024)
        except BodyTooLarge:
            return Response("too large", status_code=413)
        except ValueError:
            return Response("bad request", status_code=400)
        return Response(str(len(body)))

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        async def counted_receive() -> Any:
            message = await receive()
            seen["bytes"] = seen.get("bytes", 0) + len(message.get("body", b""))
            return message

        await app(scope, counted_receive, send)

    return counting


async def raw_post(port: int, head: bytes, chunks: list[bytes]) -> int:
    """Send a request by hand (headers, then body pieces until the server answers); return the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    status_line = asyncio.create_task(reader.readline())
    try:
        writer.write(head)
        for chunk in chunks:
            if status_line.done():
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    line = await asyncio.wait_for(status_line, 10)
    writer.close()
    return int(line.split()[1])


async def test_bodies_over_the_cap_are_refused_before_they_are_read() -> None:
    seen: dict[str, int] = {}
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    async with serve(security_app(validator, seen)) as port, aiohttp.ClientSession() as client:
        # declared 1 MB: refused on Content-Length alone; not a byte of the body was pulled
        for path in ("/capped", "/twiml"):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {1024 * 1024}\r\n\r\n"
            ).encode()
            assert await raw_post(port, head, []) == 413
        assert seen.get("bytes", 0) == 0
        # chunked, no Content-Length: refused once the cap is passed, long before 1 MB
        head = f"POST /capped HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        piece = b"a" * 16 * 1024
        chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 64 + [b"0\r\n\r\n"]
        assert await raw_post(port, head, chunks) == 413
        # the cap plus the one message that passed it (uvicorn hands over at most its 64 KiB reads)
        assert 64 * 1024 < seen["bytes"] <= 3 * 64 * 1024
        # the same through an ordinary client, 1 MB declared
        async with client.post(f"http://127.0.0.1:{port}/capped", data=b"a" * 1024 * 1024) as response:
            assert response.status == 413
        # a normal webhook passes, its form parsed from the capped bytes
        form = {"CallSid": tw.CALL_SID, "From": "+15551234567", "Empty": ""}
        headers = {"X-Twilio-Signature": sign(f"https://{HOST}/twiml", form)}
        async with client.post(f"http://127.0.0.1:{port}/twiml", data=form, headers=headers) as response:
            body = await response.json()
            assert response.status == 200 and body["params"] == form and body["form"] == form
        async with client.post(f"http://127.0.0.1:{port}/capped", data=form) as response:
            assert response.status == 200 and int(await response.text()) > 0
        # a bad signature is 403, told apart from too large
        async with client.post(
            f"http://127.0.0.1:{port}/twiml", data=form, headers={"X-Twilio-Signature": "bm9wZQ=="}
        ) as response:
            assert response.status == 403 and (await response.json())["code"] == "mismatch"
        # a non-numeric Content-Length never gets this far (the HTTP server refuses it), and
        # a hostile Host with a pinned host changes nothing
        async with client.post(
            f"http://127.0.0.1:{port}/twiml", data=form, headers={**headers, "Host": "evil.example:abc"}
        ) as response:
            assert response.status == 200


async def test_json_webhook_body_hash_branch() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    body = json.dumps({"CallSid": tw.CALL_SID, "note": "é"}).encode()
    digest = hashlib.sha256(body).hexdigest()
    url = f"https://{HOST}/twiml?bodySHA256={digest}"
    good = {"X-Twilio-Signature": sign(url), "Content-Type": "application/json"}
    seen: dict[str, int] = {}
    async with serve(security_app(validator, seen)) as port, aiohttp.ClientSession() as client:
        target = f"http://127.0.0.1:{port}/twiml?bodySHA256={digest}"
        async with client.post(target, data=body, headers=good) as response:
            assert response.status == 200, await response.text()
        # the SDK agrees with us on the raw body string
        assert RequestValidator(TOKEN).validate(url, body.decode(), good["X-Twilio-Signature"])
        async with client.post(target, data=body + b" ", headers=good) as response:
            assert (await response.json())["code"] == "body_hash_mismatch"
        # ?xbodySHA256=1 is not a JSON webhook: its form is signed like any other
        form = {"CallSid": tw.CALL_SID}
        xurl = f"https://{HOST}/twiml?xbodySHA256=1"
        async with client.post(
            f"http://127.0.0.1:{port}/twiml?xbodySHA256=1",
            data=form,
            headers={"X-Twilio-Signature": sign(xurl, form)},
        ) as response:
            assert response.status == 200 and (await response.json())["params"] == form
        # a repeated bodySHA256 is refused, never guessed
        double = f"https://{HOST}/twiml?bodySHA256={digest}&bodySHA256={digest}"
        async with client.post(
            f"http://127.0.0.1:{port}/twiml?bodySHA256={digest}&bodySHA256={digest}",
            data=body,
            headers={"X-Twilio-Signature": sign(double)},
        ) as response:
            assert response.status == 403 and (await response.json())["code"] == "bad_body"


SETTINGS = "x-twilio-webhooks-signature-settings"


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


def test_a_public_host_ending_in_x_keeps_it() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host="https://BOT.EXAMPLE.BOX/")
    assert validator.public_url("http", {}, "/twiml") == "https://bot.example.box/twiml"


def test_a_bad_public_host_error_starts_with_the_field_name() -> None:
    with pytest.raises(ValueError, match=r"^public_host 'a b' is not host\[:port\]$"):
        TwilioSignatureValidator(TOKEN, public_host="a b")


def test_a_mismatch_carries_the_url_and_shows_it_up_to_200_characters() -> None:
    validator = TwilioSignatureValidator(TOKEN, public_host=HOST)
    url = "https://bot.example/" + "p" * (200 - len("https://bot.example/"))
    result = validator.check(url, {}, {"x-twilio-signature": "bm9wZQ=="})
    assert (result.ok, result.url, result.code) == (False, url, "mismatch")
    assert result.reason == f"signature mismatch for {url!r} (HMAC_SHA1)"  # quoted: '/' is not a bare token
    longer = url + "q"
    cut = validator.check(longer, {}, {"x-twilio-signature": "bm9wZQ=="})
    assert cut.reason == f"signature mismatch for {url + '…'!r} (HMAC_SHA1)"
