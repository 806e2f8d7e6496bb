"""The PyFlink 2.2.1 quirk the lifecycle's carrier rows work around, pinned by a canary.

In thread mode, what ``on_timer`` of a keyed *broadcast* function yields for a side output
never reaches it: ``KEYED_CO_BROADCAST_PROCESS``'s timer path skips the side-output collector
that ``process_element``'s results go through, and the ``(tag, value)`` pair goes to the main
output, where it fails the job. So ``OrderLifecycleFunction`` sends its timer outputs to the
daily stage as carrier rows (``jobs.codec.side_carrier``). If an upgrade fixes this, the canary
fails: the carriers can then go, and this file with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from py4j.protocol import Py4JJavaError
from pyflink.common import Duration, Row, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import OutputTag
from pyflink.datastream.functions import KeyedBroadcastProcessFunction
from pyflink.datastream.state import MapStateDescriptor

from jobs.embedded import local_environment
from jobs.settings import JobSettings

pytestmark = pytest.mark.flink

SIDE = OutputTag("side", Types.STRING())
RULES = MapStateDescriptor("rules", Types.STRING(), Types.STRING())
KEYED = Types.ROW([Types.STRING(), Types.LONG()])


class AtTime(TimestampAssigner):  # type: ignore[misc]
    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return int(value[1])


class SideOutputsFromBothPaths(KeyedBroadcastProcessFunction):  # type: ignore[misc]
    """A side output per element; per timer a main output, and a side output if asked."""

    def __init__(self, timer_side_output: bool) -> None:
        self.timer_side_output = timer_side_output

    def process_element(self, value: Row, ctx: Any) -> Iterator[Any]:
        ctx.timer_service().register_event_time_timer(value[1] + 1)
        yield SIDE, f"element {value[0]}"
        yield value[0]

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        yield f"fired {ctx.get_current_key()}"
        if self.timer_side_output:
            yield SIDE, f"timer {ctx.get_current_key()}"

    def process_broadcast_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        ctx.get_broadcast_state(RULES).put(value, value)
        return iter(())


def main_and_side(tmp_path: Path, timer_side_output: bool) -> list[str]:
    """Both outputs of the function over two keyed events, collected."""
    env = local_environment(JobSettings(parallelism=1), tmp_path)
    events = env.from_collection([Row("a", 1_000), Row("b", 2_000)], type_info=KEYED)
    stamped = events.assign_timestamps_and_watermarks(
        WatermarkStrategy.for_bounded_out_of_orderness(
            Duration.of_millis(0)
        ).with_timestamp_assigner(AtTime())
    )
    rules = env.from_collection(["r"], type_info=Types.STRING()).broadcast(RULES)
    main = (
        stamped.key_by(lambda row: row[0], key_type=Types.STRING())
        .connect(rules)
        .process(SideOutputsFromBothPaths(timer_side_output), output_type=Types.STRING())
    )
    with main.union(main.get_side_output(SIDE)).execute_and_collect() as results:
        return sorted(results)


def test_timers_fire_and_element_side_outputs_arrive(tmp_path: Path) -> None:
    # the control: at the end of input the watermark jumps to its maximum, both timers fire
    assert main_and_side(tmp_path, timer_side_output=False) == [
        "a",
        "b",
        "element a",
        "element b",
        "fired a",
        "fired b",
    ]


def test_a_side_output_from_a_keyed_broadcast_timer_fails_as_a_main_output_row(
    tmp_path: Path,
) -> None:
    with pytest.raises(Py4JJavaError, match=r"ClassCastException: class \[Ljava.lang.Object;"):
        main_and_side(tmp_path, timer_side_output=True)
