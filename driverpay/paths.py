"""Where the project's own files are, defined once: the checkout, its run folder, its jars."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: config/, sql/, scripts/, .run/
RUN = ROOT / ".run"  # the local stack's data, logs and secrets (scripts/stack/common.sh: RUN)
JARS = ROOT / ".jars"  # resolved from pom.xml by `make jars`
