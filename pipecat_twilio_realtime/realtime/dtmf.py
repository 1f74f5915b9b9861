"""Keypad digits reach the model: an ``InputDTMFFrame`` becomes a user text item (``dtmf_to_model=True``).

Twilio's ``dtmf`` messages become Pipecat ``InputDTMFFrame``s in the serializer, as in stock Pipecat. With
``OpenAIRealtimeMuLawLLMService(dtmf_to_model=True)`` each one is also put in the conversation as a user
message, ``"The caller pressed 0."`` (:data:`DTMF_MESSAGE`), so the model can act on it (call a transfer
tool, read a menu choice), and a response is asked for:

* the item goes to the server as ``conversation.item.create`` (``input_text``) and into the LLM context,
  so a reconnected session is given it again with the rest of the conversation;
* a reply in progress is not cut off (a key press is not speech): the response is created when that
  reply is done (the stock service's owed response), otherwise at once;
* before the conversation is set up (the first response not yet asked for) the digit is only added to the
  context, which that setup sends; before any context exists it is dropped with a warning.

The frame itself goes on downstream either way. Pipecat users ask for this: pipecat-ai/pipecat#1846.
"""

from __future__ import annotations

from loguru import logger
from pipecat.frames.frames import Frame, InputDTMFFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.openai.realtime import events

from .reply_audio import ReplyAudio

__all__ = ["DTMF_MESSAGE", "KeypadInput"]

DTMF_MESSAGE = "The caller pressed {digit}."
"""The user message a key press becomes (``{digit}``: ``0``–``9``, ``*`` or ``#``)."""


class KeypadInput(ReplyAudio):
    """Key presses into the conversation, for :class:`~.service.OpenAIRealtimeMuLawLLMService`."""

    _dtmf_to_model: bool = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Put a key press in the conversation when ``dtmf_to_model`` is on, then go on as the stock service.

        Args:
            frame: The frame.
            direction: Its direction.
        """
        if isinstance(frame, InputDTMFFrame) and self._dtmf_to_model:
            await self._digit_to_model(str(frame.button.value))
        await super().process_frame(frame, direction)

    async def _digit_to_model(self, digit: str) -> None:
        text = DTMF_MESSAGE.format(digit=digit)
        context = self._context
        if context is None:
            logger.warning(
                f"{self} caller pressed {digit} before the conversation started: not sent to the model"
            )
            return
        context.add_message({"role": "user", "content": text})
        if self._api_session_ready and not self._llm_needs_conversation_setup:
            item = events.ConversationItem(
                type="message", role="user", content=[events.ItemContent(type="input_text", text=text)]
            )
            self._messages_added_manually[item.id] = True
            await self.send_client_event(events.ConversationItemCreateEvent(item=item))
        logger.info(f"{self} caller pressed {digit}: sent to the model as {text!r}")
        self._results_awaiting_response = True  # the stock flag that a response is owed for new input
        await self._create_response()
