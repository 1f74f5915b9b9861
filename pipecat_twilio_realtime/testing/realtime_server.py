"""Deprecated: import from :mod:`pipecat_twilio_realtime.testing` (or ``testing.realtime``) instead."""

from .realtime import EnergyVad, RealtimeStandIn, extra_field_paths

__all__ = ["EnergyVad", "RealtimeStandIn", "extra_field_paths"]
