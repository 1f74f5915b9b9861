"""testing.network: the config string, the pure per-direction schedule, and the asyncio link."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import pytest

from pipecat_twilio_realtime.testing.network import ImpairedLink, LinkConfig, LinkSchedule, NetworkConfig


def test_parse_sets_both_directions_or_one_and_the_seed() -> None:
    config = NetworkConfig.parse("jitter=40ms,stall=250ms/5s,delay=20ms,seed=1")
    both = LinkConfig(delay_s=0.02, jitter_s=0.04, stall_s=0.25, stall_every_s=5.0)
    assert config == NetworkConfig(to_bot=both, to_caller=both, seed=1)
    one = NetworkConfig.parse("to_caller.jitter=0.1s, to_caller.dist=uniform, batch=60ms")
    assert one.to_caller == LinkConfig(jitter_s=0.1, dist="uniform", batch_s=0.06)
    assert one.to_bot == LinkConfig(batch_s=0.06)
    assert not NetworkConfig.parse("none").impaired
    assert not NetworkConfig.parse("").impaired
    assert one.impaired


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("jiter=40ms", "unknown key 'jiter'"),
        ("jitter=40", "'40' is not a duration"),
        ("jitter=-5ms", "'-5ms' is not a duration"),
        ("jitter=fastms", "'fastms' is not a duration"),
        ("stall=250ms", "stall=PAUSE/EVERY"),
        ("stall=5s/1s", "shorter than its period"),
        ("to_phone.delay=1ms", "direction 'to_phone'"),
        ("dist=pareto", "dist must be 'normal' or 'uniform'"),
        ("seed=one", "seed must be an integer"),
        ("to_bot.seed=1", "seed applies to both directions"),
        ("jitter", "expected KEY=VALUE"),
    ],
)
def test_a_bad_setting_is_an_error_naming_it(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="network") as error:
        NetworkConfig.parse(text)
    assert named in str(error.value)


def test_delay_and_stall_move_release_times_exactly() -> None:
    schedule = LinkSchedule(LinkConfig(delay_s=0.02, stall_s=0.25, stall_every_s=5.0))
    sent = [0.0, 1.0, 4.97, 4.99, 5.1, 5.3, 10.1]
    # 4.97 + 0.02 = 4.99 passes before the stall; 4.99 + 0.02 = 5.01 waits to 5.25; so does 5.12.
    assert [round(schedule.release_at(t), 6) for t in sent] == [0.02, 1.02, 4.99, 5.25, 5.25, 5.32, 10.25]


def test_batching_releases_together_at_multiples_of_the_period() -> None:
    schedule = LinkSchedule(LinkConfig(batch_s=0.1))
    assert [round(schedule.release_at(t), 6) for t in (0.0, 0.01, 0.1, 0.15, 0.2)] == [
        0.0,
        0.1,
        0.1,
        0.2,
        0.2,
    ]


@pytest.mark.parametrize("dist", ["normal", "uniform"])
def test_jitter_is_seeded_spread_as_asked_and_never_reorders(dist: str) -> None:
    config = LinkConfig(jitter_s=0.04, dist=dist)  # type: ignore[arg-type]
    sent = [i * 0.1 for i in range(2000)]
    schedule = LinkSchedule(config, random.Random(7))
    again = [schedule.release_at(t) for t in sent]
    assert all(b >= a for a, b in itertools.pairwise(again))  # TCP: never backwards
    extra = [r - t for r, t in zip(again, sent, strict=True)]
    assert min(extra) >= 0
    assert max(extra) <= (0.04 if dist == "uniform" else 0.2)
    mean = sum(extra) / len(extra)
    expected = 0.02 if dist == "uniform" else 0.04 * (2 / 3.141592653589793) ** 0.5
    assert mean == pytest.approx(expected, rel=0.1)
    other = LinkSchedule(config, random.Random(7))
    assert [other.release_at(t) for t in sent] == again  # same seed, same network


def test_directions_draw_independently_from_the_seed() -> None:
    config = NetworkConfig.parse("jitter=40ms,seed=3")
    up, down = config.schedule("to_bot"), config.schedule("to_caller")
    a = [up.release_at(i * 0.02) for i in range(50)]
    b = [down.release_at(i * 0.02) for i in range(50)]
    assert a != b
    again = config.schedule("to_bot")
    assert [again.release_at(i * 0.02) for i in range(50)] == a
    with pytest.raises(ValueError, match="direction"):
        config.schedule("sideways")


async def test_link_delivers_in_order_at_the_release_times() -> None:
    got: list[tuple[float, int]] = []
    start = time.monotonic()

    async def deliver(message: int) -> None:
        got.append((time.monotonic() - start, message))

    link = ImpairedLink(
        LinkSchedule(LinkConfig(delay_s=0.05, stall_s=0.1, stall_every_s=0.2)),
        deliver,
        clock=time.monotonic,
        name="test",
    )
    link.start(start)
    for i in range(6):
        await link.put(i)
        await asyncio.sleep(0.04)
    await link.drain()
    await link.close()
    assert [m for _, m in got] == list(range(6))
    # sent ~0, .04, .08, .12, .16, .20 (+50 ms): the last two land in the stall [0.2, 0.3) and wait.
    times = [t for t, _ in got]
    assert times[0] == pytest.approx(0.05, abs=0.03)
    assert times[3] < 0.25
    assert times[4] >= 0.3 - 0.005
    assert times[5] - times[4] < 0.02  # held together behind the stall
    assert all(b >= a for a, b in itertools.pairwise(times))


async def test_an_unimpaired_link_delivers_inside_put() -> None:
    got: list[str] = []

    async def deliver(message: str) -> None:
        got.append(message)

    link = ImpairedLink(LinkSchedule(LinkConfig()), deliver, clock=time.monotonic)
    link.start()
    await link.put("now")
    assert got == ["now"]
    await link.close()
