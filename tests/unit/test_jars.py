"""A job ships a connector jar only when the JVM building it lacks that jar (jobs/jars.py)."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.jars import missing_from

KAFKA = Path(".jars/flink/flink-sql-connector-kafka-5.0.0-2.2.jar")
DRIVER = Path(".jars/flink/postgresql-42.7.8.jar")
PARQUET = Path(".jars/archive/flink-parquet-2.2.0.jar")


def class_path(*entries: str) -> str:
    return os.pathsep.join(entries)


def test_a_cluster_client_whose_lib_holds_every_jar_ships_none() -> None:
    lib = class_path(
        "/opt/flink/lib/flink-dist-2.2.1.jar",
        "/opt/flink/lib/flink-sql-connector-kafka-5.0.0-2.2.jar",
        "/opt/flink/lib/postgresql-42.7.8.jar",
        "/opt/flink/lib/flink-parquet-2.2.0.jar",
    )
    assert missing_from(lib, [KAFKA, DRIVER, PARQUET]) == []


def test_an_embedded_jvm_without_connectors_ships_them_all_in_order() -> None:
    pyflink_lib = class_path("/venv/pyflink/lib/flink-dist-2.2.1.jar", "")
    assert missing_from(pyflink_lib, [KAFKA, DRIVER, PARQUET]) == [KAFKA, DRIVER, PARQUET]


def test_another_version_of_a_jar_on_the_class_path_does_not_stand_for_the_pinned_one() -> None:
    older = class_path(
        "/opt/flink/lib/postgresql-42.7.3.jar", "/opt/flink/lib/flink-parquet-2.2.0.jar"
    )
    assert missing_from(older, [DRIVER, PARQUET]) == [DRIVER]
