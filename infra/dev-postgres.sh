#!/usr/bin/env bash
# Start a throwaway PostgreSQL server set up for Madoguchi, in the foreground, until Ctrl-C.
#
#   infra/dev-postgres.sh
#
# It prints `export MADOGUCHI_DATABASE_URL=...` (the app role, subject to row-level security) and
# `export MADOGUCHI_MIGRATION_DATABASE_URL=...` (the table owner); paste them into another shell, then
# e.g. `madoguchi db upgrade`. Everything is deleted when the server stops. Needs the PostgreSQL server
# binaries (Debian: `apt-get install postgresql`; or point MADOGUCHI_PG_BINDIR at them) and psycopg
# (`pip install -e ".[dev]"`). As root the server runs as the `postgres` system user.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
# `python -m` puts the current folder first on sys.path, so `tests.support` is this checkout's.
exec "${PYTHON:-python3}" -m tests.support.postgres "$@"
