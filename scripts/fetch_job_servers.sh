#!/usr/bin/env bash
# Fetch Apache Beam's Flink and Spark job-server jars for the installed
# apache-beam (the jar's version must equal the Python SDK's) with Maven, into
# a cache under ~/.m2, and print where they are.
#
#   scripts/fetch_job_servers.sh [flink] [spark]      (default: both)
#
# stdout: one line per runner, ready for `eval`:
#   FLINK_JOB_SERVER_JAR=/root/.m2/demem-job-servers/beam-runners-flink-2.2-job-server-2.75.0.jar
#   SPARK_JOB_SERVER_JAR=/root/.m2/demem-job-servers/beam-runners-spark-3-job-server-2.75.0.jar
# stderr: progress, and for a jar Maven cannot get, its coordinates and Maven's error.
#
# Exit status: 0 every jar asked for is in the cache; 3 at least one is not
# served by the Maven repository this machine reaches (the others are still
# fetched and printed); 2 bad usage; 1 anything else (no mvn, no python).
#
# Environment:
#   BEAM_VERSION      default: apache_beam.__version__ of $PYTHON
#   FLINK_VERSION     default: the newest of Beam's PUBLISHED_FLINK_VERSIONS
#   JOB_SERVER_CACHE  default: ~/.m2/demem-job-servers
#   PYTHON            default: .venv/bin/python of this checkout, else python3
#
# Beam's own downloader (used when no jar is given) fetches from a host that is
# not reachable here, so the runners are always given a local jar. A jar
# already in the cache is not fetched again (so later runs work offline).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3 || true)"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
CACHE="${JOB_SERVER_CACHE:-$HOME/.m2/demem-job-servers}"

if [ $# -eq 0 ]; then set -- flink spark; fi
for runner in "$@"; do
  case "$runner" in
    flink|spark) ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "usage: $0 [flink] [spark]" >&2; exit 2 ;;
  esac
done

command -v mvn >/dev/null || { echo "fetch_job_servers: mvn not found (Debian: apt-get install -y maven)" >&2; exit 1; }
[ -n "$PYTHON" ] || { echo "fetch_job_servers: no python to read the Beam version from" >&2; exit 1; }

BEAM_VERSION="${BEAM_VERSION:-$("$PYTHON" -c 'import apache_beam; print(apache_beam.__version__)')}"
FLINK_VERSION="${FLINK_VERSION:-$("$PYTHON" -c '
from apache_beam.options.pipeline_options import FlinkRunnerOptions
print(FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS[-1])')}"

mkdir -p "$CACHE"
status=0
for runner in "$@"; do
  if [ "$runner" = flink ]; then
    artifact="beam-runners-flink-${FLINK_VERSION}-job-server"; var=FLINK_JOB_SERVER_JAR
  else
    artifact="beam-runners-spark-3-job-server"; var=SPARK_JOB_SERVER_JAR
  fi
  coords="org.apache.beam:${artifact}:${BEAM_VERSION}"
  jar="$CACHE/${artifact}-${BEAM_VERSION}.jar"
  if [ ! -s "$jar" ]; then
    echo "fetch_job_servers: mvn dependency:copy $coords -> $CACHE" >&2
    log="$(mktemp)"
    # -U: ask again even if an earlier miss was cached in ~/.m2
    if ! mvn -B -U "$DEP_PLUGIN:copy" -Dartifact="$coords" -DoutputDirectory="$CACHE" >"$log" 2>&1 \
        || [ ! -s "$jar" ]; then
      reason="$(grep -m1 -o 'Could not find artifact [^ ]* in [^ ]*\|Could not resolve[^:]*\|Could not transfer[^:]*' "$log" \
                || grep -m1 '\[ERROR\]' "$log" || echo "see mvn output")"
      echo "fetch_job_servers: NOT AVAILABLE $coords: $reason" >&2
      rm -f "$log"
      status=3
      continue
    fi
    rm -f "$log"
  fi
  echo "$var=$jar"
done
exit "$status"
