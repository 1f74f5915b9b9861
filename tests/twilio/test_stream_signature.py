"""The media-stream handshake: ``require`` closes an unsigned stream with 1008 naming the peer and lets a
signed one through untouched.
"""

from __future__ import annotations

from types import SimpleNamespace

from pipecat_twilio_realtime import (
    TwilioSignatureValidator,
    require_twilio_signature,
)

from ._security_harness import HOST, TOKEN, FakeWebSocket, sign


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
