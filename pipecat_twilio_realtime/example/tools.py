"""The example bot's two functions: the bakery's opening hours, and hanging up."""

from __future__ import annotations

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import EndWorkerFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import FunctionCallParams

TOOLS = ToolsSchema(
    standard_tools=[
        FunctionSchema(
            name="get_opening_hours",
            description="Tell when the bakery is open on a given day.",
            properties={"day": {"type": "string", "description": "Day of the week, e.g. 'monday'."}},
            required=["day"],
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


HANDLERS = {"get_opening_hours": get_opening_hours, "end_call": end_call}
