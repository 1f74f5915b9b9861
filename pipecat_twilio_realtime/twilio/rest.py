"""Twilio's REST API for the call a stream belongs to: hang up, or give it new TwiML (e.g. a transfer).

:class:`TwilioCallControl` is the part of :class:`~.serializer.TwilioMediaStreamSerializer` that updates
the call through the ``twilio`` SDK's async client; :class:`TwilioCallUpdate` carries the TwiML a call
should get instead of a hang-up (as ``EndFrame.reason``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from loguru import logger
from pipecat.serializers.base_serializer import FrameSerializer

from .._logsafe import quote_for_log as q

__all__ = ["TwilioCallControl", "TwilioCallUpdate"]

_HANG_UP_TIMEOUT_S = 10.0  # the SDK sets no timeout: an unanswering API must not hold up the call's end


class TwilioCallControl(FrameSerializer):
    """Hang-up and call updates for :class:`~.serializer.TwilioMediaStreamSerializer` (not used alone)."""

    _hang_up_enabled: bool
    _hangup_attempted: bool
    _call_sid: str | None
    _account_sid: str | None
    _auth_token: str | None
    _twilio_client: Any

    def _rest_client(self) -> Any:
        if self._twilio_client is None:
            from twilio.http.async_http_client import AsyncTwilioHttpClient
            from twilio.rest import Client

            self._twilio_client = Client(
                self._account_sid, self._auth_token, http_client=AsyncTwilioHttpClient(pool_connections=False)
            )
        return self._twilio_client

    async def update_call(self, twiml: str) -> bool:
        """Give the call new TwiML through the Twilio REST API (ends the media stream), e.g. a ``<Dial>``.

        Args:
            twiml: The TwiML document, e.g. ``TwilioCallUpdate.transfer("+15551234567").twiml``.

        Returns:
            Whether Twilio accepted the update; ``False`` without credentials or on a REST error (logged).
        """
        if not self._hang_up_enabled:
            logger.warning(f"{self} cannot update the Twilio call: no call_sid/account_sid/auth_token given")
            return False
        self._hangup_attempted = True
        return await self._rest_update(twiml=twiml)

    async def _hang_up(self, reason: object = None) -> None:
        """End the call through the Twilio REST API: complete it, or apply a :class:`TwilioCallUpdate`."""
        if isinstance(reason, TwilioCallUpdate):
            await self._rest_update(twiml=reason.twiml)
        else:
            await self._rest_update(status="completed")

    async def _rest_update(self, **update: str) -> bool:
        call_sid = self._call_sid
        what = "hang up" if "status" in update else "update"
        try:
            await asyncio.wait_for(
                self._rest_client().calls(call_sid).update_async(**update), _HANG_UP_TIMEOUT_S
            )
            logger.info(f"{self} {'hung up' if 'status' in update else 'updated'} Twilio call {q(call_sid)}")
            return True
        except Exception as e:  # the call may already be gone; never let hang-up kill shutdown
            status = getattr(e, "status", None)
            if status == 404:
                logger.debug(f"{self} Twilio call {q(call_sid)} was already over")
            else:
                logger.error(
                    f"{self} failed to {what} Twilio call {q(call_sid)}: "
                    f"{type(e).__name__} (status {status!r})"
                )
            return False


@dataclass(frozen=True)
class TwilioCallUpdate:
    """How the call should end, carried as ``EndFrame.reason`` (``EndWorkerFrame(reason=...)``).

    With credentials, the serializer sends this TwiML instead of hanging up, e.g. a transfer to a person.

    Parameters:
        twiml: The TwiML document for the call.
    """

    twiml: str

    @classmethod
    def transfer(cls, number: str) -> TwilioCallUpdate:
        """Transfer the call: ``<Response><Dial>number</Dial></Response>`` (the number XML-escaped)."""
        from xml.sax.saxutils import escape

        return cls(f"<Response><Dial>{escape(number)}</Dial></Response>")
