#!/usr/bin/env bash
# Run demem on the sample corpus through one of Beam's portable runners.
#
#   scripts/run_portable.sh RUNNER [OUTPUT_DIR] [extra demem/Beam options ...]
#
# RUNNER:
#   flink     FlinkRunner, embedded Flink (--flink_master=[local]), job server
#             jar from scripts/fetch_job_servers.sh (or $FLINK_JOB_SERVER_JAR)
#   spark     SparkRunner, local Spark (--spark_master_url=local[2]), job server
#             jar from scripts/fetch_job_servers.sh (or $SPARK_JOB_SERVER_JAR)
#   portable  PortableRunner with Beam's in-process Python job service
#             (--job_endpoint=embed): the same Runner API / Fn API path as
#             Flink and Spark, no Java needed
# Every runner uses --environment_type=LOOPBACK: the SDK workers run inside
# this Python process, so nothing is started by hand and no container is used.
#
# OUTPUT_DIR defaults to runs/portable-RUNNER. INPUT (default
# examples/sample.jsonl) and CONFIG (a demem YAML) may be set in the
# environment. Exit status: demem's, or 3 when the job-server jar is not
# available (scripts/fetch_job_servers.sh says which coordinates and why).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
[ $# -ge 1 ] || { sed -n '2,22p' "$0" >&2; exit 2; }
runner="$(echo "$1" | tr '[:upper:]' '[:lower:]')"; shift
output="runs/portable-$runner"
if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then output="$1"; shift; fi
DEMEM="${DEMEM:-$ROOT/.venv/bin/demem}"
INPUT="${INPUT:-examples/sample.jsonl}"
config_args=()
[ -z "${CONFIG:-}" ] || config_args=(--config "$CONFIG")

case "$runner" in
  flink|flinkrunner)
    runner=flink
    if [ -z "${FLINK_JOB_SERVER_JAR:-}" ]; then
      eval "$(bash scripts/fetch_job_servers.sh flink)" || true
      [ -n "${FLINK_JOB_SERVER_JAR:-}" ] || { echo "run_portable: no Flink job-server jar" >&2; exit 3; }
    fi
    flink_version="$(basename "$FLINK_JOB_SERVER_JAR" | sed -n 's/^beam-runners-flink-\([0-9.]*\)-job-server-.*/\1/p')"
    beam_args=(--runner FlinkRunner "--flink_master=[local]" --flink_job_server_jar "$FLINK_JOB_SERVER_JAR"
               --environment_type=LOOPBACK --parallelism=2)
    [ -z "$flink_version" ] || beam_args+=("--flink_version=$flink_version")
    ;;
  spark|sparkrunner)
    runner=spark
    if [ -z "${SPARK_JOB_SERVER_JAR:-}" ]; then
      eval "$(bash scripts/fetch_job_servers.sh spark)" || true
      [ -n "${SPARK_JOB_SERVER_JAR:-}" ] || { echo "run_portable: no Spark job-server jar" >&2; exit 3; }
    fi
    beam_args=(--runner SparkRunner --spark_job_server_jar "$SPARK_JOB_SERVER_JAR" "--spark_master_url=local[2]"
               --environment_type=LOOPBACK)
    # Spark 3 on Java 17+ reads JDK internals; spark-submit opens them, `java -jar` does not.
    for pkg in java.base/java.lang java.base/java.lang.invoke java.base/java.lang.reflect java.base/java.io \
               java.base/java.net java.base/java.nio java.base/java.util java.base/java.util.concurrent \
               java.base/java.util.concurrent.atomic java.base/sun.nio.ch java.base/sun.nio.cs \
               java.base/sun.security.action java.base/sun.util.calendar; do
      beam_args+=("--job_server_jvm_properties=--add-opens=$pkg=ALL-UNNAMED")
    done
    ;;
  portable|portablerunner)
    runner=portable
    beam_args=(--runner PortableRunner --job_endpoint=embed --environment_type=LOOPBACK)
    ;;
  *) echo "run_portable: RUNNER must be flink, spark or portable (got '$runner')" >&2; exit 2 ;;
esac

mkdir -p "$(dirname "$output")"
echo "run_portable: $DEMEM run --input $INPUT --output $output ${beam_args[*]} $*" >&2
start=$(date +%s%N)
set +e
"$DEMEM" run --input "$INPUT" --output "$output" --overwrite "${config_args[@]}" "${beam_args[@]}" "$@"
rc=$?
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "run_portable: $runner finished with exit $rc in $((ms / 1000)).$(printf %03d $((ms % 1000))) s; output in $output" >&2
exit "$rc"
