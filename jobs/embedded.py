"""``driverpay run``: the streaming job on Flink's embedded local execution, over a file."""

from __future__ import annotations

import base64
import json
import os
import site
import sys
import tempfile
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Encoder, WatermarkStrategy
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.file_system import (
    BucketAssigner,
    FileSink,
    FileSource,
    OutputFileConfig,
    StreamFormat,
)

from driverpay.paths import ROOT, RUN
from jobs.archive import attach_archive
from jobs.compat import first_field
from jobs.functions import Decoder, decode_staged_line, decode_version_text
from jobs.pipeline import build_pipeline
from jobs.settings import JobSettings
from udfs.events import MalformedEventError, parse_event
from udfs.file_clock import EvenSample, clock_offset_ms
from udfs.stream_clock import StreamClock
from udfs.zones import Zones
from udfs.zones_history import version_record

OUTPUTS = ("pay_ledger", "driver_daily_pay", "dead_letter", "quarantine", "audit", "retired")
VERSIONS_FILE = "zones_versions.jsonl"  # the versions a run priced with (reconcile reads them)


def local_environment(settings: JobSettings, work_dir: Path) -> StreamExecutionEnvironment:
    """Embedded Flink with the production settings: thread mode, RocksDB, checkpoints."""
    # Flink's local logs would otherwise go into the virtualenv's pyflink/log.
    log_dir = Path(os.environ.setdefault("FLINK_LOG_DIR", str(RUN / "log")))
    log_dir.mkdir(parents=True, exist_ok=True)
    config = Configuration()
    config.set_string("python.execution-mode", "thread")
    config.set_string("python.executable", sys.executable)
    config.set_string("python.client.executable", sys.executable)
    # Thread mode embeds the interpreter (pemja), which sees neither the virtualenv's
    # site-packages nor this checkout unless they are on its path explicitly.
    config.set_string("python.pythonpath", os.pathsep.join([*site.getsitepackages(), str(ROOT)]))
    config.set_string("restart-strategy.type", "none")  # a bounded run fails fast, never loops
    config.set_string("state.backend.type", "rocksdb")
    config.set_string("execution.checkpointing.interval", f"{settings.checkpoint_interval_ms}ms")
    config.set_string("execution.checkpointing.dir", (work_dir / "checkpoints").as_uri())
    config.set_string("parallelism.default", str(settings.parallelism))
    config.set_string("taskmanager.numberOfTaskSlots", str(max(2, settings.parallelism)))
    for key, value in settings.flink_options:
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(settings.parallelism)
    return env


def stage_input(
    source: Path, staged: Path, sample: EvenSample | None = None, zones: Container[str] = ()
) -> int:
    """Number each line and base64 its exact bytes, so positions and bad bytes survive.

    ``sample`` receives the event times of an even sample of the lines that are valid events
    in ``zones`` (``udfs.events.parse_event``), to date the file (``file_clock_offset``).
    """
    count = 0
    read = partial(_event_time, zones=zones)
    with source.open("rb") as src, staged.open("w", encoding="ascii") as out:
        for count, line in enumerate(src, start=1):
            payload = line.rstrip(b"\n")
            if sample is not None:
                sample.take(payload, read)
            out.write(f"{count}\t{base64.b64encode(payload).decode()}\n")
    return count


def _event_time(payload: bytes, zones: Container[str]) -> int | None:
    """A record's event time if it is a valid event, else None."""
    try:
        return parse_event(payload, zones).time_ms
    except MalformedEventError:
        return None


def file_clock_offset(sample: EvenSample, settings: JobSettings) -> int:
    """How far ahead of the machine's clock the file's own time is (``udfs.file_clock``)."""
    now_ms = int(time.time() * 1000)
    minimum = StreamClock.tolerate + 1  # as many as a split's clock needs
    return clock_offset_ms(sample.times, now_ms, minimum, settings.max_ahead_ms)


@dataclass
class FileSinks:
    """Each output to its own folder of part files (one per subtask), merged after the run.

    A collect sink costs two py4j calls per record; file sinks keep the run in the JVM.
    """

    root: Path

    def _sink(self, name: str, stream: DataStream) -> None:
        sink = (
            FileSink.for_row_format(str(self.root / name), Encoder.simple_string_encoder())
            .with_bucket_assigner(BucketAssigner.base_path_bucket_assigner())
            .with_output_file_config(OutputFileConfig.builder().with_part_suffix(".jsonl").build())
            .build()
        )
        stream.sink_to(sink).name(f"{name}-file").uid(f"{name}-file")

    def ledger(self, stream: DataStream) -> None:
        self._sink("pay_ledger", first_field(stream, Types.STRING()))

    def daily(self, stream: DataStream) -> None:
        self._sink("driver_daily_pay", first_field(stream, Types.STRING()))

    def dead_letter(self, stream: DataStream) -> None:
        self._sink("dead_letter", stream)

    def quarantine(self, stream: DataStream) -> None:
        self._sink("quarantine", stream)

    def audit(self, stream: DataStream) -> None:
        self._sink("audit", stream)

    def retired(self, stream: DataStream) -> None:
        self._sink("retired", stream)

    def read(self) -> dict[str, list[dict[str, Any]]]:
        """All records per output, from every finished part file."""
        records: dict[str, list[dict[str, Any]]] = {}
        for name in OUTPUTS:
            rows = records.setdefault(name, [])
            for part in sorted((self.root / name).glob("*.jsonl")):
                with part.open(encoding="utf-8") as fh:
                    rows.extend(json.loads(line) for line in fh if line.strip())
        return records


@dataclass
class RunResult:
    """What an embedded run produced, plus how long it took."""

    records: dict[str, list[dict[str, Any]]]
    input_lines: int
    seconds: float
    clock_offset_ms: int = 0  # the file was read by its own time, this far ahead of the machine


def run_file(
    input_path: Path,
    output_dir: Path,
    zones: Zones,
    settings: JobSettings,
    decode: Decoder = decode_staged_line,
    archive_dir: Path | None = None,
    versions: Sequence[Zones] = (),
    version_texts: Sequence[str] = (),
) -> RunResult:
    """Run the job over ``input_path`` and write the output files into ``output_dir``.

    The files are those of docs/contracts.md ("Commands"); ``archive_dir`` also receives the
    raw archive (Parquet by zone and local date, committed with checkpoints). ``decode`` is
    injectable so tests can prove that a fault inside the job stops nothing. ``zones`` seeds
    the job; ``versions`` are further zones versions, broadcast to the running job as the
    ``zones`` topic would be (they may arrive after the first events). Every version is
    written to ``output_dir/zones_versions.jsonl``. ``version_texts`` are further records on
    that input as they would arrive on the topic, valid or not, and are not listed there.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    version_records = [version_record(v) for v in (zones, *versions)]
    text = "".join(r + "\n" for r in version_records)
    (output_dir / VERSIONS_FILE).write_text(text, encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="driverpay-") as tmp:
        work = Path(tmp)
        staged = work / "events.tsv"
        sample = EvenSample()
        lines = stage_input(input_path, staged, sample, frozenset(zones))
        # a file is read by its own time when that is later than the machine's
        settings = replace(settings, clock_offset_ms=file_clock_offset(sample, settings))
        started = time.monotonic()
        env = local_environment(settings, work)
        source = FileSource.for_record_stream_format(
            StreamFormat.text_line_format(), str(staged)
        ).build()
        raw = env.from_source(source, WatermarkStrategy.no_watermarks(), "events-file")
        sinks = FileSinks(work / "parts")
        version_stream = env.from_collection(
            [*version_records, *version_texts], type_info=Types.STRING()
        )
        version_stream = version_stream.name("zones-versions").uid("zones-versions")
        events = build_pipeline(
            raw.uid("events-file"),
            decode,
            zones,
            settings,
            sinks,
            versions=(version_stream, decode_version_text),
        )
        if archive_dir is not None:
            attach_archive(env, events, archive_dir.resolve().as_uri())
        env.execute("driverpay-embedded")
        records = sinks.read()
        seconds = time.monotonic() - started
    write_outputs(output_dir, records)
    return RunResult(dict(records), lines, seconds, settings.clock_offset_ms)


def write_outputs(output_dir: Path, records: dict[str, list[dict[str, Any]]]) -> None:
    """Deterministic files: sorted ledger, latest version per driver-day, DLQ by position."""
    ledger = sorted(
        records["pay_ledger"],
        key=lambda r: (r["pay_date"], r["driver_id"], r["order_id"], r["line_id"]),
    )
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in records["driver_daily_pay"]:
        key = (row["driver_id"], row["pay_date"])
        if key not in latest or latest[key]["version"] < row["version"]:
            latest[key] = row
    daily = [latest[k] for k in sorted(latest)]
    dead = sorted(records["dead_letter"], key=lambda r: _position_key(r["position"]))
    quarantine = sorted(records["quarantine"], key=_quarantine_key)
    audit = sorted(records["audit"], key=lambda r: json.dumps(r, sort_keys=True))
    retired = sorted(records["retired"], key=lambda r: json.dumps(r, sort_keys=True))
    changelog = sorted(
        records["driver_daily_pay"], key=lambda r: (r["driver_id"], r["pay_date"], r["version"])
    )
    for name, rows in (
        ("pay_ledger", ledger),
        ("driver_daily_pay", daily),
        ("dead_letter", dead),
        ("quarantine", quarantine),
        ("audit", audit),
        ("retired", retired),
        ("driver_daily_pay_changelog", changelog),
    ):
        with (output_dir / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(
                json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in rows
            )


def _quarantine_key(record: dict[str, Any]) -> tuple[str, str, str]:
    """Events by order and event id; a day's capped lines (no event id) by their line id."""
    return (record.get("order_id") or "", record.get("event_id") or "", record.get("line_id") or "")


def _position_key(position: str) -> tuple[int, str]:
    head, _, number = position.rpartition(" ")
    return (int(number), head) if number.isdigit() else (0, position)
