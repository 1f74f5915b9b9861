"""Deprecated alias of ``pipecat_twilio_realtime.twilio.protocol`` (moved in 0.2.0, removed in 0.3.0)."""

from ._moved import alias

alias(__name__, "twilio.protocol")
