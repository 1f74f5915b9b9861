"""Whether anything after the service can use the caller's audio (``audio_passthrough=None``, the default)."""

from __future__ import annotations

from pipecat.pipeline.base_pipeline import BasePipeline
from pipecat.pipeline.pipeline import Pipeline, PipelineSink, PipelineSource
from pipecat.processors.aggregators.llm_response_universal import LLMAssistantAggregator
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.base_output import BaseOutputTransport

__all__ = ["CALLER_AUDIO_IGNORED_BY", "downstream_needs_caller_audio"]

CALLER_AUDIO_IGNORED_BY: tuple[type[FrameProcessor], ...] = (
    BaseOutputTransport,
    LLMAssistantAggregator,
    PipelineSource,
)
"""Processors known to pass ``InputAudioRawFrame`` on unread (Pipecat 1.14): the output transport writes
only output audio, the assistant aggregator records the bot's side, a pipeline's source hands frames on
(a pipeline's sink is followed out to what comes after its pipeline)."""

_MAX_HOPS = 256  # a linked list of processors is finite; a cycle (a bug elsewhere) must not hang us


def downstream_needs_caller_audio(processor: FrameProcessor) -> tuple[bool, str]:
    """Walk the processors after ``processor`` to the end of the worker's pipeline.

    Nested pipelines are followed in through their source and out through their sink (to the processor
    after the pipeline). Anything not in :data:`CALLER_AUDIO_IGNORED_BY` might read caller audio (an
    ``AudioBufferProcessor`` recording the call, a processor of the app's), and so might anything this
    walk cannot see past.

    Args:
        processor: The processor whose downstream neighbours are checked.

    Returns:
        Whether caller audio should go on, and the first processor that wants it (its name), or ``""``.
    """
    current = processor.next
    for _ in range(_MAX_HOPS):
        if current is None:
            return False, ""
        if isinstance(current, PipelineSink):
            # A pipeline's sink hands downstream frames to its pipeline's push_frame (Pipecat 1.14); the
            # worker's outermost sink hands them to the worker, which is the end.
            owner = getattr(getattr(current, "_downstream_push_frame", None), "__self__", None)
            if isinstance(owner, BasePipeline):
                current = owner.next
                continue
            if owner is None:
                return True, f"{current} (cannot see past it)"
            return False, ""
        if isinstance(current, Pipeline):  # a nested pipeline: its source comes first
            current = current.processors[0]
            continue
        if not isinstance(current, CALLER_AUDIO_IGNORED_BY):
            return True, str(current)
        current = current.next
    return True, f"more than {_MAX_HOPS} processors"
