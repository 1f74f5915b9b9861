"""The example bot's functions: the bakery's opening hours, a transfer to a person, and hanging up.

``transfer_to_person`` is what "press 0 for a person" triggers: the service has ``dtmf_to_model`` on, so
the model reads "The caller pressed 0." and calls it; the call then gets ``<Dial>TRANSFER_TO</Dial>``
through Twilio's REST API (the serializer's credentials), the same transfer the bot makes when OpenAI fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import FunctionCallParams

from pipecat_twilio_realtime import TwilioCallUpdate

TOOLS = ToolsSchema(
    standard_tools=[
        FunctionSchema(
            name="get_opening_hours",
            description="Tell when the bakery is open on a given day.",
            properties={"day": {"type": "string", "description": "Day of the week, e.g. 'monday'."}},
            required=["day"],
        ),
        FunctionSchema(
            name="transfer_to_person",
            description="Transfer the call to a person, when the caller presses 0 or asks for one.",
            properties={},
            required=[],
        ),
        FunctionSchema(
            name="end_call",
            description="Hang up, after saying goodbye, when the caller is done.",
            properties={},
            required=[],
        ),
    ]
)


async def get_opening_hours(params: FunctionCallParams) -> None:
    """Example tool: the bakery's hours."""
    day = str(params.arguments.get("day", "")).lower()
    hours = "closed" if day == "sunday" else "7 am to 6 pm"
    await params.result_callback({"day": day or "today", "hours": hours})


async def end_call(params: FunctionCallParams) -> None:
    """Example tool: end the call (the serializer hangs up through Twilio's REST API when it may)."""
    await params.result_callback({"status": "ending call"})
    await params.llm.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


def transfer_to(number: str | None) -> Callable[[FunctionCallParams], Awaitable[None]]:
    """Example tool: transfer the call to ``number`` (``TRANSFER_TO``); without one, say no one can take it.

    Args:
        number: The E.164 number to ``<Dial>``, or ``None``.

    Returns:
        The ``transfer_to_person`` handler.
    """

    async def transfer_to_person(params: FunctionCallParams) -> None:
        if number is None:
            await params.result_callback({"status": "no one can take the call now; offer to help instead"})
            return
        await params.result_callback({"status": "transferring the call"})
        # the serializer gives the call this TwiML through Twilio's REST API instead of hanging up
        end = EndWorkerFrame(reason=TwilioCallUpdate.transfer(number))
        await params.llm.push_frame(end, FrameDirection.UPSTREAM)

    return transfer_to_person


HANDLERS = {"get_opening_hours": get_opening_hours, "end_call": end_call}
"""The handlers that need no settings (``transfer_to_person`` is made by :func:`transfer_to`)."""
