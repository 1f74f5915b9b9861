"""A plain Twilio ⇄ OpenAI Realtime relay, the peer the network benchmark compares us with.

    python benchmarks/_relay.py --realtime-url ws://127.0.0.1:PORT/v1/realtime   # prints its port

What the twilio-samples FastAPI relay and openai-agents' Twilio transport do, written small for the
benchmark (no framework, μ-law both ways, nothing resampled):

* caller ``media`` → ``input_audio_buffer.append`` (once the session is confirmed);
* each ``response.output_audio.delta`` → one Twilio ``media`` at once (no pacing: Twilio's buffer absorbs
  the network), followed by a ``mark`` named ``ITEM:MS`` (ms of that item sent so far);
* a ``mark`` echo → that item played up to MS;
* ``input_audio_buffer.speech_started`` while marks are pending (audio queued at Twilio) → ``clear`` and
  ``conversation.item.truncate`` at the last mark echoed; later deltas of that item are dropped.

So its truncation precision is one delta (what it sent between two echoes), and the caller keeps hearing
until the ``clear`` arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SESSION_UPDATE = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad"}},
            "output": {"format": {"type": "audio/pcmu"}},
        },
    },
}
"""μ-law both ways, the server's VAD: what the sample relays configure."""


def _b64_len(payload: str) -> int:
    """Decoded length of a base64 string, without decoding it."""
    return len(payload) * 3 // 4 - payload[-2:].count("=")


@dataclass
class RelayCall:
    """One call's playback state: the item being sent, ms sent and ms echoed."""

    stream_sid: str
    item_id: str | None = None
    sent_ms: float = 0.0
    echoed_ms: float = 0.0
    cut: set[str] = field(default_factory=set)

    def media(self, payload: str) -> str:
        """A Twilio ``media`` message carrying ``payload``."""
        return json.dumps({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})

    def mark(self) -> str:
        """A Twilio ``mark`` named after the current item and the ms of it sent so far."""
        name = f"{self.item_id}:{self.sent_ms:g}"
        return json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def on_echo(self, name: str) -> None:
        """A mark came back: the current item has played up to its ms (echoes of other items are stale)."""
        item, _, ms = name.rpartition(":")
        if item == self.item_id:
            self.echoed_ms = max(self.echoed_ms, float(ms))

    @property
    def pending(self) -> bool:
        """Whether audio of the current item is still queued at Twilio (a mark not yet echoed)."""
        return self.item_id is not None and self.sent_ms > self.echoed_ms


class Relay:
    """A websocket server for Twilio Media Streams that relays each call to one Realtime session."""

    def __init__(self, realtime_url: str, api_key: str = "sk-bench") -> None:
        """Prepare the relay.

        Args:
            realtime_url: The Realtime websocket URL (the stand-in's).
            api_key: Sent as the bearer token.
        """
        self.realtime_url = realtime_url
        self.api_key = api_key

    def __str__(self) -> str:
        return "Relay"

    async def serve(self, port: int = 0) -> Server:
        """Start listening on 127.0.0.1 (``port`` 0: any free port)."""
        return await serve(self._handle, "127.0.0.1", port, max_size=2**22)

    async def _handle(self, twilio: ServerConnection) -> None:
        stream_sid = ""
        async for message in twilio:
            event = json.loads(message)
            if event.get("event") == "start":
                stream_sid = str(event["start"]["streamSid"])
                break
        if not stream_sid:
            logger.warning(f"{self} the Twilio stream closed before its start message")
            return
        call = RelayCall(stream_sid)
        async with connect(
            f"{self.realtime_url}?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {self.api_key}"},
            max_size=2**24,
        ) as openai:
            await openai.send(json.dumps(SESSION_UPDATE))
            ready = asyncio.Event()
            tasks = [
                asyncio.create_task(self._from_twilio(twilio, openai, call, ready)),
                asyncio.create_task(self._from_openai(twilio, openai, call, ready)),
            ]
            _, waiting = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _from_twilio(
        self, twilio: ServerConnection, openai: ClientConnection, call: RelayCall, ready: asyncio.Event
    ) -> None:
        async for message in twilio:
            event = json.loads(message)
            kind = event.get("event")
            if kind == "media" and ready.is_set():
                audio = event["media"]["payload"]
                await openai.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            elif kind == "mark":
                call.on_echo(str(event["mark"]["name"]))
            elif kind == "stop":
                return

    async def _from_openai(
        self, twilio: ServerConnection, openai: ClientConnection, call: RelayCall, ready: asyncio.Event
    ) -> None:
        try:
            async for message in openai:
                event: dict[str, Any] = json.loads(message)
                kind = event.get("type")
                if kind == "session.updated" and not ready.is_set():
                    ready.set()
                    await openai.send(json.dumps({"type": "response.create"}))  # the greeting
                elif kind == "response.output_audio.delta" and event["item_id"] not in call.cut:
                    if event["item_id"] != call.item_id:
                        call.item_id, call.sent_ms, call.echoed_ms = event["item_id"], 0.0, 0.0
                    call.sent_ms += _b64_len(event["delta"]) / 8
                    await twilio.send(call.media(event["delta"]))
                    await twilio.send(call.mark())
                elif kind == "input_audio_buffer.speech_started" and call.pending:
                    assert call.item_id is not None
                    await twilio.send(json.dumps({"event": "clear", "streamSid": call.stream_sid}))
                    truncate = {
                        "type": "conversation.item.truncate",
                        "item_id": call.item_id,
                        "content_index": 0,
                        "audio_end_ms": round(call.echoed_ms),
                    }
                    await openai.send(json.dumps(truncate))
                    call.cut.add(call.item_id)
                    call.item_id = None
                elif kind == "error":
                    logger.warning(f"{self} Realtime error: {str(event.get('error'))[:200]!r}")
        except ConnectionClosed:
            return


async def main() -> None:
    """Serve until killed; print the port on stdout first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realtime-url", required=True)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    server = await Relay(args.realtime_url).serve()
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
