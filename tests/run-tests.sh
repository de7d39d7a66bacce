#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite: engine, PowerShell-surface, CLI and network-lab tests.
# Usage: bash tests/run-tests.sh [--no-install] [-c Debug|Release] [-- extra dotnet test args]
# The lab tests build network namespaces and firewall rules: run as root (as CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
config=Release
install=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    -c) config=$2; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run-tests.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# Debian packages the tests drive for real: the lab (iproute2, procps for sysctl, util-linux for setpriv),
# firewalls (iptables, nftables), ENA-style counters (ethtool), a proxy (tinyproxy), independent clients
# (curl, and the AWS CLI v2 whose botocore reads IMDS), ping to move interface counters, sshd for remote runs,
# a C compiler with the kernel headers to check the ethtool ioctl layouts the ENA reader hard-codes.
packages=(iproute2 procps util-linux iptables nftables ethtool tinyproxy awscli curl iputils-ping openssh-server openssh-client gcc libc6-dev)
# BusyBox: the remote collector is checked on a BusyBox-only system (sh, wget, awk ...) as on minimal images.
packages+=(busybox)
if [ "$install" = 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "run-tests.sh: need root to install: ${missing[*]}" >&2
      exit 1
    fi
    echo "run-tests.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian starts these on install where it can; the tests start their own on loopback or in namespaces.
  pkill -x tinyproxy 2>/dev/null || true
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 POWERSHELL_TELEMETRY_OPTOUT=1
dotnet build ImdsTroubleshoot.sln -c "$config" -nologo -clp:NoSummary -v:q
# The Gallery package of the staged module (tests check its layout and install it).
dotnet msbuild src/ImdsTroubleshoot/ImdsTroubleshoot.csproj -t:PackModule -p:Configuration="$config" -nologo -v:q
results="$root/out/test-results"
rm -rf "$results"
set +e
dotnet test tests/ImdsTroubleshoot.Tests/ImdsTroubleshoot.Tests.csproj -c "$config" --no-build -nologo \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" --results-directory "$results" "${extra[@]}"
status=$?
set -e

trx="$results/results.trx"
if [ -f "$trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { printf '%s' "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  passed=$(get passed); failed=$(get failed); total=$(get total); executed=$(get executed)
  skipped=$(( ${total:-0} - ${executed:-0} ))
  if [ "${failed:-0}" != 0 ]; then
    # CI keeps only the end of the log: name the failures here, last, with their messages.
    echo "failed tests:"
    awk -f tests/trx-failures.awk "$trx" | head -n 200
  fi
  echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped"
  if [ "${executed:-0}" = 0 ]; then
    echo "run-tests.sh: no test ran" >&2
    exit 1
  fi
else
  echo "run-tests.sh: no test results were written" >&2
  [ "$status" != 0 ] || status=1
fi
exit "$status"
