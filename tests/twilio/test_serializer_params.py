"""The serializer's parameters and its start: documented defaults, limits refused by name at construction, the
stream SID before and after ``start``, what ``start`` logs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipecat_twilio_realtime import (
    TwilioMediaStreamSerializer,
    TwilioStreamStats,
)

from .. import _twilio_helpers as tw
from ._serializer_harness import Params, pcm_frame, pipeline_setup, started


def test_params_defaults_are_the_documented_ones() -> None:
    params = Params()
    assert params.auto_hang_up is True
    assert params.max_message_bytes == 64 * 1024
    assert (params.max_inbound_rate, params.inbound_burst_ms) == (2.0, 2000)
    assert TwilioMediaStreamSerializer().stats == TwilioStreamStats()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"max_message_bytes": -1}, "max_message_bytes"),
        ({"max_inbound_rate": -0.5}, "max_inbound_rate"),
        ({"max_inbound_rate": float("nan")}, "max_inbound_rate"),
        ({"max_inbound_rate": float("inf")}, "max_inbound_rate"),
        ({"inbound_burst_ms": -1}, "inbound_burst_ms"),
    ],
)
def test_out_of_range_limits_are_refused_naming_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TwilioMediaStreamSerializer(params=Params(**params))


def test_limits_at_their_edges_are_accepted() -> None:
    TwilioMediaStreamSerializer(params=Params(max_message_bytes=1, max_inbound_rate=0, inbound_burst_ms=0))


async def test_stream_sid_given_up_front_is_used_before_start() -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid="MZ-given")
    assert serializer.stream_sid == "MZ-given"
    message = json.loads(await serializer.serialize(pcm_frame(b"\x00" * 160)))
    assert message["streamSid"] == "MZ-given"


async def test_a_start_for_another_stream_keeps_the_given_sid_and_warns(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid="MZ-given")
    await serializer.deserialize(tw.start())
    assert serializer.stream_sid == "MZ-given"
    assert serializer.start_event is not None and serializer.start_event.stream_sid == tw.STREAM_SID
    assert any("WARNING" in line and "MZ-given" in line and tw.STREAM_SID in line for line in logs)


async def test_a_start_for_the_same_stream_does_not_warn(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer(stream_sid=tw.STREAM_SID)
    await serializer.deserialize(tw.start())
    assert not any("WARNING" in line for line in logs)
    assert any("INFO" in line and tw.STREAM_SID in line and "started" in line for line in logs)


async def test_state_before_and_after_start() -> None:
    times = iter([5.0, 7.0, 9.0, 11.0])
    serializer = TwilioMediaStreamSerializer(clock=lambda: next(times))
    assert serializer.stream_sid is None and serializer.start_event is None
    assert serializer.custom_parameters == {}
    assert serializer.last_media_monotonic is None and serializer.last_activity_monotonic == 5.0
    await serializer.deserialize(tw.start(who="ana"))
    assert serializer.last_activity_monotonic == 7.0 and serializer.last_media_monotonic is None
    params = serializer.custom_parameters
    params["who"] = "changed"  # a copy: the start event is not changed through it
    assert serializer.custom_parameters == {"who": "ana"}
    await serializer.deserialize(tw.media(2, b"\x01"))
    assert serializer.last_media_monotonic == serializer.last_activity_monotonic == 9.0
    assert serializer.clock() == 11.0


async def test_setup_accepts_8000_and_unset_rates() -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.setup(pipeline_setup(8000, 8000))
    await serializer.setup(pipeline_setup(0, 0))  # rates not set yet: nothing to check
    with pytest.raises(ValueError, match="audio_out_sample_rate=16000") as info:
        await serializer.setup(pipeline_setup(8000, 16000))
    assert "audio_in_sample_rate=8000," not in str(info.value).split("Use ")[0]


async def test_start_logs_its_tracks(logs: list[str]) -> None:
    await started()
    assert any("started, tracks=inbound" in line for line in logs)


def test_the_name_given_is_the_serializers_name() -> None:
    assert TwilioMediaStreamSerializer(name="twilio-7").name == "twilio-7"


async def test_setup_names_a_wrong_input_rate() -> None:
    with pytest.raises(ValueError, match=r"runs at audio_in_sample_rate=16000\. Use"):
        await TwilioMediaStreamSerializer().setup(pipeline_setup(16000, 8000))


def _start_with_tracks(tracks: list[str]) -> str:
    message = json.loads(tw.start())
    message["start"]["tracks"] = tracks
    return json.dumps(message)


async def test_start_logs_at_most_four_tracks_each_cut_at_16_characters(logs: list[str]) -> None:
    serializer = TwilioMediaStreamSerializer()
    await serializer.deserialize(_start_with_tracks(["inbound", "outbound", "a" * 16, "b" * 17, "fifth"]))
    line = next(line for line in logs if "started, tracks=" in line)
    shown = "inbound,outbound," + "a" * 16 + "," + repr("b" * 16 + "…")
    assert line.rstrip().endswith(f"started, tracks={shown}")
