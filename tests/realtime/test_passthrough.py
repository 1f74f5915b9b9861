"""``audio_passthrough=None``: caller audio goes past the service only if something after it may read it."""

from __future__ import annotations

from pipecat.pipeline.parallel_pipeline import ParallelPipeline
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from pipecat_twilio_realtime import OpenAIRealtimeMuLawLLMService
from pipecat_twilio_realtime.realtime.passthrough import downstream_needs_caller_audio


def service() -> OpenAIRealtimeMuLawLLMService:
    return OpenAIRealtimeMuLawLLMService(api_key="sk-test")


def phone_pipeline(llm: FrameProcessor, *, after_output: list[FrameProcessor] | None = None) -> Pipeline:
    pair = LLMContextAggregatorPair(LLMContext())
    params = TransportParams(audio_in_enabled=True, audio_out_enabled=True)
    return Pipeline(
        [
            BaseInputTransport(params),
            pair.user(),
            llm,
            BaseOutputTransport(params),
            pair.assistant(),
            *(after_output or []),
        ]
    )


def test_the_usual_phone_pipeline_does_not_need_caller_audio_after_the_service() -> None:
    llm = service()
    PipelineWorker(phone_pipeline(llm))
    assert downstream_needs_caller_audio(llm) == (False, "")


def test_a_recorder_anywhere_after_the_service_gets_caller_audio() -> None:
    llm = service()
    recorder = AudioBufferProcessor()
    PipelineWorker(phone_pipeline(llm, after_output=[recorder]))
    needed, by = downstream_needs_caller_audio(llm)
    assert needed and by == str(recorder)


def test_nested_pipelines_are_followed_out_through_their_sink() -> None:
    llm, recorder = service(), AudioBufferProcessor()
    pair = LLMContextAggregatorPair(LLMContext())
    params = TransportParams(audio_in_enabled=True, audio_out_enabled=True)
    inner = Pipeline([pair.user(), llm, BaseOutputTransport(params)])
    PipelineWorker(Pipeline([BaseInputTransport(params), inner, pair.assistant()]))
    assert downstream_needs_caller_audio(llm) == (False, "")

    llm2 = service()
    inner2 = Pipeline([llm2, BaseOutputTransport(params)])
    PipelineWorker(Pipeline([BaseInputTransport(params), inner2, Pipeline([recorder])]))
    assert downstream_needs_caller_audio(llm2) == (True, str(recorder))


def test_a_parallel_pipeline_after_the_service_counts_as_a_reader() -> None:
    llm = service()
    parallel = ParallelPipeline([AudioBufferProcessor()], [FrameProcessor()])
    PipelineWorker(Pipeline([llm, parallel]))
    assert downstream_needs_caller_audio(llm) == (True, str(parallel))


def test_an_unlinked_service_and_a_sink_it_cannot_see_past() -> None:
    assert downstream_needs_caller_audio(service()) == (False, "")  # nothing after it at all

    llm = service()
    pipeline = phone_pipeline(llm)
    sink = pipeline.processors[-1]
    del sink._downstream_push_frame  # what a Pipecat release that renames it would look like
    needed, by = downstream_needs_caller_audio(llm)
    assert needed and "cannot see past" in by


def test_a_cycle_does_not_hang_the_walk() -> None:
    params = TransportParams(audio_out_enabled=True)
    llm, a, b = service(), BaseOutputTransport(params), BaseOutputTransport(params)
    llm.link(a)
    a.link(b)
    b._next = a  # a broken graph (not something Pipecat builds): the walk gives up and passes audio on
    assert downstream_needs_caller_audio(llm) == (True, "more than 256 processors")
