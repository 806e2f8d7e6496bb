"""The alert rules are valid PromQL and each alert fires on its bug's shape, and only then.

``promtool`` comes from Debian's ``prometheus`` package (scripts/bootstrap.sh installs it without
starting a server); ops/prometheus/driverpay-rules.test.yml holds one synthetic scenario per alert.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "ops" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run scripts/bootstrap.sh (Debian package prometheus)")
    return subprocess.run(
        [tool, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_file_is_valid_promql() -> None:
    result = promtool("check", "rules", "driverpay-rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_each_alert_fires_on_its_synthetic_bug_and_stays_quiet_otherwise() -> None:
    result = promtool("test", "rules", "driverpay-rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_shown_firing_by_some_promtool_scenario() -> None:
    rules = yaml.safe_load((RULES_DIR / "driverpay-rules.yml").read_text())
    scenarios = yaml.safe_load((RULES_DIR / "driverpay-rules.test.yml").read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    firing = {
        case["alertname"]
        for test in scenarios["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert alerts == firing
