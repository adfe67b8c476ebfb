#!/usr/bin/env bash
# Creates the pipeline's Kafka topics (idempotent): create-topics.sh TOPIC[:compact]...
# TOPIC:compact is created with cleanup.policy=compact (the latest record per key is kept),
# with the settings of src/stack/kafka.ts COMPACTED_TOPIC_CONFIGS.
# A topic that exists with fewer partitions than KAFKA_PARTITIONS is grown to that count;
# Kafka cannot take partitions away, so a larger existing count is left as it is.
# Run by the compose one-shot service `kafka-init` in the apache/kafka image.
set -euo pipefail

bootstrap=${KAFKA_BOOTSTRAP_SERVERS:-kafka:29092}
partitions=${KAFKA_PARTITIONS:-3}
# The tool of the apache/kafka image; another Kafka distribution can be named instead.
topics_cli=${KAFKA_TOPICS_CLI:-/opt/kafka/bin/kafka-topics.sh}

for spec in "$@"; do
  topic=${spec%%:*}
  configs=()
  if [[ "$spec" == *:compact ]]; then
    configs=(--config cleanup.policy=compact --config segment.ms=600000
      --config segment.bytes=67108864 --config min.cleanable.dirty.ratio=0.5)
  fi
  "$topics_cli" --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" --replication-factor 1 "${configs[@]}"
  current=$("$topics_cli" --bootstrap-server "$bootstrap" --describe --topic "$topic" \
    | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
  if [[ -z "$current" ]]; then
    echo "create-topics: cannot read the partition count of $topic" >&2
    exit 1
  fi
  if (( current < partitions )); then
    echo "create-topics: $topic: $current -> $partitions partitions"
    "$topics_cli" --bootstrap-server "$bootstrap" --alter --topic "$topic" --partitions "$partitions"
  elif (( current > partitions )); then
    echo "create-topics: $topic keeps its $current partitions (KAFKA_PARTITIONS=$partitions; Kafka cannot shrink a topic)"
  else
    echo "create-topics: $topic has $current partitions"
  fi
done
