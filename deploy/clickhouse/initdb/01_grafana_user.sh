#!/bin/bash
# Runs once, when clickhouse-server starts on an empty data volume (the image's
# /docker-entrypoint-initdb.d hook). Creates the read-only `grafana` user the Grafana
# datasource logs in with, so dashboards can never write. readonly=2 forbids writes but lets
# the plugin set per-query settings (max_execution_time and the like).
set -euo pipefail
pw="${GRAFANA_CLICKHOUSE_PASSWORD:?set GRAFANA_CLICKHOUSE_PASSWORD}"
case "$pw" in
  *\'* | *\\*) echo "GRAFANA_CLICKHOUSE_PASSWORD must not contain ' or \\" >&2; exit 1 ;;
esac
clickhouse client --host 127.0.0.1 --user "$CLICKHOUSE_USER" --password "$CLICKHOUSE_PASSWORD" \
  --multiquery <<SQL
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY '${pw}'
  SETTINGS readonly = 2;
GRANT SELECT ON ${CLICKHOUSE_DB}.* TO grafana;
SQL
