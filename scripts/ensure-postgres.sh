#!/usr/bin/env bash
# Tests need a Postgres server: the one at TEST_DATABASE_URL (default
# 127.0.0.1:5432). If the machine's own cluster is down, start it.
set -euo pipefail
host=127.0.0.1 port=5432
if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then exit 0; fi
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "ensure-postgres: TEST_DATABASE_URL is set; not starting a server" >&2
  exit 0
fi
if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
  for v in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  done
fi
for _ in $(seq 1 30); do
  pg_isready -q -h "$host" -p "$port" && exit 0
  sleep 1
done
echo "ensure-postgres: no Postgres answers at $host:$port; start one or set TEST_DATABASE_URL" >&2
exit 1
