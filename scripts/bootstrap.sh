#!/usr/bin/env bash
# Install what `make demo` / `make test` need on a fresh machine: a JDK for Flink, Python's venv,
# then the project virtualenv from pinned constraints. Idempotent: a stamp records what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  echo "bootstrap: installing ${need_apt[*]} from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

stamp=".venv/.bootstrap-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [[ -f "$stamp" ]]; then
  exit 0
fi
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
rm -f .venv/.bootstrap-*
touch "$stamp"
echo "bootstrap: virtualenv ready ($(.venv/bin/python --version))"
