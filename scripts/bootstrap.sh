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

# promtool validates ops/prometheus/*.yml in `make test`; it ships in Debian's `prometheus` package,
# whose postinst would start a Prometheus server: a policy-rc.d that denies every start is put in
# place for the install (if the machine has none) and removed after; no recommends (node-exporter).
install_promtool() {
  local policy=/usr/sbin/policy-rc.d added=0 rc=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus || rc=$?
  if ((added)); then rm -f "$policy"; fi
  if [[ -x /etc/init.d/prometheus ]] && /etc/init.d/prometheus status >/dev/null 2>&1; then
    /etc/init.d/prometheus stop   # started by the package despite the policy: not ours to keep
  fi
  return "$rc"
}
if ! command -v promtool >/dev/null; then
  echo "bootstrap: installing prometheus (for promtool) from Debian, no service started"
  install_promtool
fi

# vegeta drives `make bench-api` at a constant rate (an open model: no coordinated omission, as
# with wrk). Not in Debian: built from its Go module at a pinned version with the machine's Go.
VEGETA_VERSION=v12.13.0
if ! command -v vegeta >/dev/null; then
  echo "bootstrap: installing vegeta $VEGETA_VERSION (go install, into /usr/local/bin)"
  if command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]]; then
    GOBIN=/usr/local/bin "$(command -v go || echo /usr/local/go/bin/go)" install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION" ||
      echo "bootstrap: vegeta could not be built (only make bench-api needs it; make test goes on)" >&2
  else
    echo "bootstrap: no Go toolchain: vegeta not installed (only make bench-api needs it)" >&2
  fi
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
