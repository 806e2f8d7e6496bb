"""The connector jars a job needs, shipped with it only when the JVM building it lacks them.

The local cluster loads them from its ``lib/`` (``scripts/stack/flink-env.sh``), once, in the
parent class loader. A jar shipped with a job is loaded again into that job's own class loader,
and a session cluster never released those: 10-11 MB of the JobManager's Metaspace and 26 MB of
a TaskManager's per submission, until ``OutOfMemoryError: Metaspace`` took the cluster down
(docs/design.md, "Upgrades and rescaling"). An embedded run's JVM (the one PyFlink starts) has
none of them, so it gets them all.

The client's class path stands for the cluster's: ``flink run`` builds it from the same
``lib/``. A cluster without the connectors in ``lib/`` fails the job at start with a
``ClassNotFoundException``, loudly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from driverpay.paths import JARS

CONNECTORS = JARS / "flink"  # Kafka, JDBC with its PostgreSQL dialect, the PostgreSQL driver
ARCHIVE = JARS / "archive"  # Parquet and Hadoop, for the raw archive's writer


def jars_in(folder: Path) -> list[Path]:
    """The jars of ``folder``; none means the jars were never resolved."""
    found = sorted(folder.glob("*.jar"))
    if not found:
        raise FileNotFoundError(f"no jars in {folder}: run `make jars`")
    return found


def missing_from(class_path: str, jars: Iterable[Path]) -> list[Path]:
    """The ``jars`` whose file name is not an entry of ``class_path`` (``os.pathsep``-separated)."""
    present = {Path(entry).name for entry in class_path.split(os.pathsep) if entry}
    return [jar for jar in jars if jar.name not in present]


def ship_missing(env: StreamExecutionEnvironment, *folders: Path) -> list[Path]:
    """Add to ``env`` the jars of ``folders`` that this JVM's class path lacks; those jars."""
    class_path = get_gateway().jvm.java.lang.System.getProperty("java.class.path") or ""
    missing = missing_from(class_path, (jar for folder in folders for jar in jars_in(folder)))
    if missing:
        env.add_jars(*(jar.as_uri() for jar in missing))
    return missing
