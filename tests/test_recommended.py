"""The recommended worker and aggregator parameters do what their docstrings say, on real Pipecat objects."""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.processors.frameworks.rtvi import RTVIProcessor
from pipecat.turns.user_start import ExternalUserTurnStartStrategy
from pipecat.turns.user_stop import ExternalUserTurnStopStrategy

from pipecat_twilio_realtime import (
    RECOMMENDED_OUT_10MS_CHUNKS,
    recommended_transport_params,
    recommended_user_aggregator_params,
    recommended_worker_params,
)


def test_the_transport_params_turn_audio_on_both_ways_with_100_ms_messages() -> None:
    assert recommended_transport_params() == {
        "audio_in_enabled": True,
        "audio_out_enabled": True,
        "audio_out_10ms_chunks": RECOMMENDED_OUT_10MS_CHUNKS,
    }
    assert RECOMMENDED_OUT_10MS_CHUNKS == 10


def processors(worker: PipelineWorker) -> list[FrameProcessor]:
    found: list[FrameProcessor] = []

    def walk(p: FrameProcessor) -> None:
        found.append(p)
        for child in getattr(p, "processors", []):
            walk(child)

    walk(worker._pipeline)
    return found


def test_pipecats_default_worker_adds_rtvi_and_ours_does_not() -> None:
    stock = PipelineWorker(Pipeline([FrameProcessor()]))
    assert any(isinstance(p, RTVIProcessor) for p in processors(stock))  # what the advice removes

    ours = PipelineWorker(Pipeline([FrameProcessor()]), **recommended_worker_params())
    assert not any(isinstance(p, RTVIProcessor) for p in processors(ours))
    with pytest.raises(Exception, match="RTVI is not enabled"):
        _ = ours.rtvi
    assert ours.turn_tracking_observer is not None  # turn events stay unless lean


def test_lean_worker_also_drops_turn_tracking() -> None:
    assert recommended_worker_params(lean=True) == {"enable_rtvi": False, "enable_turn_tracking": False}
    worker = PipelineWorker(Pipeline([FrameProcessor()]), **recommended_worker_params(lean=True))
    assert worker.turn_tracking_observer is None


def test_the_user_aggregator_starts_with_external_turns_and_loads_no_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[Any] = []

    def load(self: Any, *args: Any, **kwargs: Any) -> None:
        loads.append(self)
        raise RuntimeError("the local Smart Turn model was loaded")

    monkeypatch.setattr(
        "pipecat.audio.turn.smart_turn.local_smart_turn_v3.LocalSmartTurnAnalyzerV3.__init__", load
    )
    with pytest.raises(RuntimeError, match="Smart Turn"):  # Pipecat's default loads it for every call
        LLMContextAggregatorPair(LLMContext())
    loads.clear()
    pair = LLMContextAggregatorPair(LLMContext(), user_params=recommended_user_aggregator_params())
    assert loads == []
    strategies = pair.user()._params.user_turn_strategies
    assert strategies is not None
    assert [type(s) for s in strategies.start or []] == [ExternalUserTurnStartStrategy]
    assert [type(s) for s in strategies.stop or []] == [ExternalUserTurnStopStrategy]
    assert all(s.wait_for_transcript is False for s in strategies.stop or [])


def test_realtime_mode_finds_nothing_to_change_so_no_warning_per_call(logs: list[str]) -> None:
    # What the aggregator does when the Realtime service announces itself: with strategies the app gave,
    # any change it has to make is a WARNING on every call.
    user = LLMContextAggregatorPair(LLMContext(), user_params=recommended_user_aggregator_params()).user()
    strategies = user._params.user_turn_strategies
    assert strategies is not None
    user._apply_realtime_mode_strategy_mutations(strategies, are_user_provided_custom_strategies=True)
    assert not [line for line in logs if "mutated turn strategies" in line]
    assert [type(s) for s in strategies.start or []] == [ExternalUserTurnStartStrategy]
