"""A bot written for Pipecat's development runner, moved onto pipecat-twilio-realtime.

It is Pipecat's OpenAI Realtime example in its Twilio shape (``async def bot(runner_args)``,
``python bot.py -t twilio``, ``semantic_vad`` turn detection) with the changes of ``docs/move-your-bot.md``:
the lines marked ``# moved`` are the whole diff. Run it offline with ``pipecat-twilio-standin`` and
``OPENAI_REALTIME_URL``, or through ``pipecat-twilio-simulate --url ws://HOST:PORT/ws``.
"""

import os

from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.runner.types import RunnerArguments
from pipecat.services.openai.realtime.events import (
    AudioConfiguration,
    AudioInput,
    SemanticTurnDetection,
    SessionProperties,
)
from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMSettings
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner

from pipecat_twilio_realtime import (  # moved
    MediaStatsObserver,  # moved
    OpenAIRealtimeMuLawLLMService,  # moved
    create_twilio_transport,  # moved
    recommended_user_aggregator_params,  # moved
)

transport_params = {
    "twilio": lambda: FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True),
}


async def run_bot(transport, runner_args: RunnerArguments) -> None:
    session_properties = SessionProperties(
        audio=AudioConfiguration(input=AudioInput(turn_detection=SemanticTurnDetection(eagerness="high"))),
    )
    llm = OpenAIRealtimeMuLawLLMService(  # moved
        api_key=os.getenv("OPENAI_API_KEY", "sk-offline"),
        settings=OpenAIRealtimeLLMSettings(
            system_instruction="You are a friendly phone assistant. Keep answers short.",
            session_properties=session_properties,
        ),
    )
    context = LLMContext([{"role": "user", "content": "Say hello."}])
    aggregators = LLMContextAggregatorPair(context, user_params=recommended_user_aggregator_params())  # moved
    pipeline = Pipeline(
        [transport.input(), aggregators.user(), llm, transport.output(), aggregators.assistant()]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        observers=[MediaStatsObserver()],  # moved
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(transport, client) -> None:
        await worker.queue_frames([LLMRunFrame()])

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport, client) -> None:
        await worker.cancel()

    await WorkerRunner(handle_sigint=False).run(worker)


async def bot(runner_args: RunnerArguments) -> None:
    transport = await create_twilio_transport(runner_args, transport_params["twilio"]())  # moved
    await run_bot(transport, runner_args)


if __name__ == "__main__":
    from pipecat.runner.run import main

    main()
