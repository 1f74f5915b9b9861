"""Canaries: the Pipecat internals the send-ahead transport (``twilio/playout.py``) builds on.

``SendAheadOutputTransport`` overrides ``FastAPIWebsocketOutputTransport``'s pacing sleep and swaps the class
of Pipecat's ``MediaSender`` to hold bot-stopped-speaking until play time. A failure here means a Pipecat
release moved one of those internals: re-read ``transports/base_output.py`` and ``websocket/fastapi.py``
before widening the version bound, or the lead or the bot-speaking state would break quietly.
"""

from __future__ import annotations

import inspect

import pytest
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketOutputTransport, FastAPIWebsocketTransport

from pipecat_twilio_realtime.twilio.playout import SendAheadOutputTransport, _PlayTimeMediaSender

MediaSender = BaseOutputTransport.MediaSender


def _source(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (FastAPIWebsocketOutputTransport, "_write_audio_sleep"),
        (FastAPIWebsocketOutputTransport, "write_audio_frame"),
        (BaseOutputTransport, "set_transport_ready"),
        (BaseOutputTransport, "process_frame"),
        (MediaSender, "_bot_stopped_speaking"),
    ],
)
def test_every_overridden_method_is_still_a_coroutine_with_our_signature(owner: type, name: str) -> None:
    theirs = getattr(owner, name, None)
    assert theirs is not None and inspect.iscoroutinefunction(theirs), f"{owner.__name__}.{name} moved"
    ours = getattr(SendAheadOutputTransport if owner is not MediaSender else _PlayTimeMediaSender, name)
    assert list(inspect.signature(theirs).parameters) == list(inspect.signature(ours).parameters)


def test_the_pacing_sleep_is_the_one_pipecat_calls_after_each_write() -> None:
    assert "self._write_audio_sleep()" in _source(FastAPIWebsocketOutputTransport.write_audio_frame)
    assert "self._send_interval" in _source(FastAPIWebsocketOutputTransport.__init__) + _source(
        FastAPIWebsocketOutputTransport.start
    )


def test_media_senders_are_built_at_transport_ready_in_the_dict_we_walk() -> None:
    assert "self._media_senders" in _source(BaseOutputTransport.__init__)
    assert "MediaSender(" in _source(BaseOutputTransport.set_transport_ready)


def test_the_media_sender_state_we_read_and_keep_is_still_there() -> None:
    init = _source(MediaSender.__init__)
    for attribute in ("self._transport", "self._bot_speaking", "self._audio_runs"):
        assert attribute in init or attribute in _source(MediaSender), attribute
    assert "self._bot_speaking = False" in _source(MediaSender._bot_stopped_speaking)
    assert issubclass(_PlayTimeMediaSender, MediaSender)
    # The class swap needs a plain class: no __slots__ that would make the layouts differ.
    assert "__slots__" not in vars(MediaSender) and "__slots__" not in vars(_PlayTimeMediaSender)


def test_the_transport_builds_its_output_from_the_attributes_we_pass_on() -> None:
    init = _source(FastAPIWebsocketTransport.__init__)
    for attribute in ("self._client", "self._params", "self._output", "self._output_name"):
        assert attribute in init or attribute in _source(BaseTransport.__init__), attribute
