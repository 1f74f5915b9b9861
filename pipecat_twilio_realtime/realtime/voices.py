"""Which voices the OpenAI Realtime API speaks, read from the installed ``openai`` SDK's types.

The SDK types a Realtime voice as ``str | Literal[<built-in voices>] | VoiceID``: the literal names are the
built-in Realtime voices, and any other string is passed through for custom voices. Text-to-speech voices
that the Realtime API lacks (``fable``, ``onyx``, ``nova`` in 2026) were reported to come out as distorted
noise on μ-law calls, so a name outside the Realtime list is refused here, naming the allowed ones.
Nothing is hard-coded: a new SDK with new voices widens the list by itself.
"""

from __future__ import annotations

import typing
from functools import cache

from openai.types.audio import speech_create_params
from openai.types.realtime import realtime_audio_config_output

__all__ = ["check_voice", "realtime_voices"]

CUSTOM_VOICE_PREFIX = "voice_"
"""Custom voices are referred to by an ID such as ``voice_1234`` (the SDK's own example)."""


def _literal_names(alias: object) -> tuple[str, ...]:
    names: list[str] = []
    for arg in typing.get_args(alias):
        if typing.get_origin(arg) is typing.Literal:
            names.extend(str(value) for value in typing.get_args(arg))
    return tuple(names)


@cache
def realtime_voices() -> tuple[str, ...]:
    """The built-in Realtime voices the installed ``openai`` SDK knows."""
    return _literal_names(realtime_audio_config_output.Voice)


def check_voice(voice: str) -> None:
    """Refuse a voice name the Realtime API does not offer.

    Args:
        voice: A built-in Realtime voice name, or a custom voice ID (``voice_…``).

    Raises:
        ValueError: Naming the voice, why it is refused and the allowed ones.
    """
    allowed = realtime_voices()
    if voice in allowed or voice.startswith(CUSTOM_VOICE_PREFIX):
        return
    tts_only = set(_literal_names(speech_create_params.Voice)) - set(allowed)
    why = (
        "is a text-to-speech voice the Realtime API does not offer (reported to sound like noise on calls)"
        if voice in tts_only
        else "is not a Realtime voice"
    )
    raise ValueError(
        f"voice {voice!r} {why}; use one of {', '.join(allowed)} "
        f"or a custom voice ID ({CUSTOM_VOICE_PREFIX}…)"
    )
