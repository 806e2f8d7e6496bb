"""The only place driverpay touches PyFlink internals (``_j_*``, the private runtime context).

Each use saves a whole Python stage per record that the public API would add, or works around
a thread-mode bug; all are checked against the PyFlink version they were read from, so an
upgrade fails loudly at submission instead of misbehaving (docs/design.md, "Throughput").
"""

from __future__ import annotations

from typing import TypeVar

from pyflink.common import WatermarkStrategy
from pyflink.common.typeinfo import (
    ListTypeInfo,
    MapTypeInfo,
    ObjectArrayTypeInfo,
    PickledBytesTypeInfo,
    RowTypeInfo,
    TupleTypeInfo,
    TypeInformation,
    Types,
)
from pyflink.datastream import DataStream, KeyedStream, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, StateDescriptor
from pyflink.java_gateway import get_gateway
from pyflink.version import __version__ as pyflink_version

SUPPORTED = ("2.2.1",)  # versions whose internals this module was read from


def check_version(version: str = pyflink_version) -> None:
    """Refuse to build a job on a PyFlink whose internals were not checked."""
    if version not in SUPPORTED:
        raise RuntimeError(
            f"jobs/compat.py was written against PyFlink {', '.join(SUPPORTED)}, not {version}: "
            "re-check its internals (key_by_first_field, stamp_event_time, first_field, "
            "subtask_index, checked_state) "
            "and add the version to SUPPORTED"
        )


def key_by_first_field(
    keyed_rows: DataStream, key_type: TypeInformation, in_place: bool = False
) -> KeyedStream:
    """Key ``Row(key, value)`` records by ``key`` in the JVM; the keyed function gets ``value``.

    ``DataStream.key_by`` with a Python key selector runs a Python ``AddKey`` stage that turns
    each record into exactly this ``Row(key, value)`` before the same Java ``KeyByKeySelector``
    (field 0) — a full Java -> Python -> Java round trip per record just to read a field. When
    the upstream Python function emits ``Row(key, value)`` itself, that stage goes away; the
    key serializer (``ROW<key>``), and so every key's key group, is the same as with the
    Python selector.

    ``in_place``: key without a shuffle (``DataStreamUtils.reinterpretAsKeyedStream``), so the
    keyed stage can chain into its upstream's task. Only correct when each record is already
    on the subtask that owns its key, e.g. when both stages run at parallelism 1.
    """
    check_version()
    gateway = get_gateway()
    selector = gateway.jvm.org.apache.flink.streaming.api.functions.python.KeyByKeySelector()
    key_info = Types.ROW([key_type]).get_java_type_info()
    if in_place:
        utils = gateway.jvm.org.apache.flink.streaming.api.datastream.DataStreamUtils
        j_keyed = utils.reinterpretAsKeyedStream(keyed_rows._j_data_stream, selector, key_info)
    else:
        j_keyed = keyed_rows._j_data_stream.keyBy(selector, key_info)
    return KeyedStream(j_keyed, _value_type(keyed_rows), keyed_rows)


def _value_type(keyed_rows: DataStream) -> TypeInformation:
    """The type of ``value`` in the stream's ``Row(key, value)`` records."""
    from pyflink.common.typeinfo import _from_java_type

    row_type = _from_java_type(keyed_rows._j_data_stream.getTransformation().getOutputType())
    return row_type.get_field_types()[1]


def stamp_event_time(
    stamped: DataStream, strategy: WatermarkStrategy, output_type: TypeInformation
) -> DataStream:
    """``(record, timestamp_ms)`` pairs -> ``record`` with that timestamp and watermarks.

    PyFlink's ``assign_timestamps_and_watermarks`` with a Python assigner adds a Python stage
    to read one field; this uses the same Java assigner and field-dropping map PyFlink uses
    internally, in the JVM.
    """
    check_version()
    eventtime = get_gateway().jvm.org.apache.flink.streaming.api.functions.python.eventtime
    j_stream = stamped._j_data_stream.assignTimestampsAndWatermarks(
        strategy._j_watermark_strategy.withTimestampAssigner(eventtime.CustomTimestampAssigner())
    )
    return first_field(DataStream(j_stream), output_type)


def first_field(pairs: DataStream, output_type: TypeInformation) -> DataStream:
    """``(a, b)`` tuples -> ``a``, in the JVM.

    The Java map PyFlink itself uses to drop a record's timestamp returns ``f0`` of any
    ``Tuple2`` without looking at ``f1``; a Python ``map`` would cost a crossing per record.
    """
    check_version()
    eventtime = get_gateway().jvm.org.apache.flink.streaming.api.functions.python.eventtime
    return DataStream(
        pairs._j_data_stream.map(
            eventtime.RemoveTimestampMapFunction(), output_type.get_java_type_info()
        )
    )


def subtask_index(runtime_context: RuntimeContext) -> int:
    """Index of the running subtask, working around PyFlink 2.2.1's thread-mode wrapper.

    The wrapper calls ``getIndexOfThisSubtask``, which Flink 2.x moved to ``TaskInfo``.
    """
    try:
        return int(runtime_context.get_index_of_this_subtask())
    except AttributeError:  # Flink 2.x moved it to TaskInfo; the embedded wrapper did not follow
        return int(runtime_context._runtime_context.getTaskInfo().getIndexOfThisSubtask())


# What thread mode's state bridge stores as a pickle instead of a Java type (PyFlink 2.2.1
# ``fn_execution/embedded/java_utils.py: to_java_typeinfo``, the final ``else``).
_PICKLED_IN_THREAD_MODE = (RowTypeInfo, TupleTypeInfo, ListTypeInfo, PickledBytesTypeInfo)
D = TypeVar("D", bound=StateDescriptor)


def checked_state(descriptor: D) -> D:
    """``descriptor``, refused if thread mode would keep its values as Python pickles.

    A ``ValueState<ROW<...>>`` declared in Python looks typed but is stored as pickled bytes:
    unreadable outside Python, bound to its classes' layout, executed when loaded. Keyed state
    here is basic types and maps of them only (``jobs.codec`` for the layouts).
    """
    check_version()
    value_type = descriptor.type_info
    if isinstance(descriptor, ListStateDescriptor):  # the bridge converts element by element
        value_type = value_type.elem_type
    pickled = [t for t in _leaf_types(value_type) if isinstance(t, _PICKLED_IN_THREAD_MODE)]
    if pickled:
        raise TypeError(
            f"state {descriptor.name!r}: {pickled[0]} would be stored as a pickle in thread mode"
        )
    return descriptor


def _leaf_types(type_info: TypeInformation) -> list[TypeInformation]:
    """The types a state value is made of (maps and arrays convert element by element)."""
    if isinstance(type_info, MapTypeInfo):
        return [*_leaf_types(type_info._key_type_info), *_leaf_types(type_info._value_type_info)]
    if isinstance(type_info, ObjectArrayTypeInfo):
        return _leaf_types(type_info._element_type)
    return [type_info]
