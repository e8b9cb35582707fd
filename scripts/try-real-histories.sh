#!/usr/bin/env bash
# Rehearse the Alembic histories of public projects installed from PyPI, as a new user would.
#
#   scripts/try-real-histories.sh [prefect|mlflow|optuna|ckan|superset ...]     (default: all five)
#
# Each project gets its own venv under $RH_REAL (default /tmp/rh-real) with the project, the
# PostgreSQL drivers and rehearse (editable, from this checkout); superset (SQLAlchemy 1.4) gets a
# venv without rehearse, which then runs from $RH_REAL/rehearse-venv with --python. A source database is created
# on $RH_SERVER (default the 5432 server), brought to an early revision with the project's own
# migration machinery, rehearsed to head, and always dropped. Reports land in
# $RH_REAL/<name>/reports. Results and findings: docs/real-histories.md.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
RH_REAL=${RH_REAL:-/tmp/rh-real}
PYTHON=${PYTHON:-python3.11}
PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
export REHEARSE_SECRET=${REHEARSE_SECRET:-try-real-histories}

declare -A VERSION=([prefect]=3.9.1 [mlflow]=3.17.2 [optuna]=5.0.0 [ckan]=2.12.0 [superset]=4.1.4)
# what pip installs when it is not the name: ckan's wheel declares its dependencies only as an extra
declare -A SPEC=([ckan]="ckan[requirements]" [superset]=apache-superset)
RUN_TIMEOUT=${RUN_TIMEOUT:-1500}  # seconds per rehearsal
DATABASES=()
cleanup() {
  for db in "${DATABASES[@]}"; do psql -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true; done
}
trap cleanup EXIT

new_database() {  # sets $db to a fresh, empty database (not in a subshell: cleanup must see it)
  db="rh_real_$1_$(python3 -c 'import uuid; print(uuid.uuid4().hex[:8])')"
  DATABASES+=("$db")
  psql -d postgres -qc "CREATE DATABASE \"$db\""
}

venv() {  # venv NAME [own]: $RH_REAL/NAME/venv with the project, drivers and (unless own) rehearse
  local dir="$RH_REAL/$1" spec="${SPEC[$1]:-$1}==${VERSION[$1]}"
  mkdir -p "$dir"
  if [ "${2:-}" = own ]; then
    [ -x "$dir/venv/bin/python" ] || { "$PYTHON" -m venv "$dir/venv" && "$dir/venv/bin/pip" install -q "$spec" psycopg2-binary >&2; }
  elif [ ! -x "$dir/venv/bin/rehearse" ]; then
    "$PYTHON" -m venv "$dir/venv"
    "$dir/venv/bin/pip" install -q "$spec" psycopg2-binary asyncpg anyio -e "$REPO" >&2
  fi
  "$dir/venv/bin/python" -c "import $1, sys; print(sys.modules['$1'].__file__.rsplit('/', 1)[0])"
}

keep_names() {  # keep_names TABLE...: a policy keeping the unique `name` columns detection flags
  echo "# object names, not people: the detector's fake:name would break their unique indexes"
  echo "version: 1"
  echo "tables:"
  for t in "$@"; do
    printf '  public.%s:\n    columns:\n      name: {strategy: keep, acknowledge: true, why: "object names, not people"}\n' "$t"
  done
}

run_prefect() {
  local pkg dir=$RH_REAL/prefect db
  pkg=$(venv prefect)
  # prefect's alembic.ini names no version_locations (env.py sets them at run time)
  cat > "$dir/alembic.ini" <<EOF
[alembic]
script_location = $pkg/server/database/_migrations
version_locations = $pkg/server/database/_migrations/versions/postgresql
path_separator = os
EOF
  keep_names deployment flow saved_search > "$dir/policy.yaml"
  new_database prefect
  export PREFECT_HOME=$dir/home PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://$PGUSER@$PGHOST:$PGPORT/$db"
  # prefect runs env.py from an AnyIO worker thread; plain `alembic upgrade` cannot
  "$dir/venv/bin/python" - "$dir/alembic.ini" 25f4b90a7a42 <<'EOF'
import sys, anyio, anyio.to_thread
from alembic import command
from alembic.config import Config
async def main():
    await anyio.to_thread.run_sync(command.upgrade, Config(sys.argv[1]), sys.argv[2])
anyio.run(main)
EOF
  time "$dir/venv/bin/rehearse" run --source "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" --no-strict \
    --policy "$dir/policy.yaml" --alembic-ini "$dir/alembic.ini" \
    --url-env PREFECT_API_DATABASE_CONNECTION_URL --report-dir "$dir/reports" || true
}

run_mlflow() {
  local pkg dir=$RH_REAL/mlflow db url
  pkg=$(venv mlflow)
  sed -e "s#^script_location = .*#script_location = $pkg/store/db_migrations#" \
      -e "s#^sqlalchemy.url = .*#sqlalchemy.url = postgresql+psycopg2://set-by-rehearse/x#" \
      "$pkg/store/db_migrations/alembic.ini" > "$dir/alembic.ini"
  keep_names datasets endpoints experiments input_tags label_schemas mcp_server_aliases mcp_servers \
    mcp_server_tags mcp_server_version_tags mcp_server_versions model_definitions model_version_tags \
    model_versions registered_models registered_model_aliases registered_model_tags workspaces \
    > "$dir/policy.yaml"
  new_database mlflow
  url="postgresql+psycopg2://$PGUSER@$PGHOST:$PGPORT/$db"
  # mlflow creates its initial tables from models, then runs the history from its first revision
  "$dir/venv/bin/python" - "$dir/alembic.ini" "$url" 451aebb31d03 <<'EOF'
import sys
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from mlflow.store.tracking.dbmodels.initial_models import Base
ini, url, rev = sys.argv[1:4]
Base.metadata.create_all(create_engine(url))
cfg = Config(ini); cfg.set_main_option("sqlalchemy.url", url)
command.upgrade(cfg, rev)
EOF
  time "$dir/venv/bin/rehearse" run --source "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" --no-strict \
    --policy "$dir/policy.yaml" --alembic-ini "$dir/alembic.ini" --report-dir "$dir/reports" || true
}

run_optuna() {
  local pkg dir=$RH_REAL/optuna db url
  pkg=$(venv optuna)
  # optuna's ini says script_location = alembic (it sets the real path in code)
  sed -e "s#^script_location = .*#script_location = $pkg/storages/_rdb/alembic#" \
      -e "s#^sqlalchemy.url = .*#sqlalchemy.url = postgresql+psycopg2://set-by-rehearse/x#" \
      "$pkg/storages/_rdb/alembic.ini" > "$dir/alembic.ini"
  new_database optuna
  url="postgresql+psycopg2://$PGUSER@$PGHOST:$PGPORT/$db"
  # v2.4.0.a fails on PostgreSQL unless run in the same Alembic run as v0.9.0.a (see the doc)
  "$dir/venv/bin/python" - "$dir/alembic.ini" "$url" v2.4.0.a <<'EOF'
import sys
from alembic import command
from alembic.config import Config
cfg = Config(sys.argv[1]); cfg.set_main_option("sqlalchemy.url", sys.argv[2])
command.upgrade(cfg, sys.argv[3])
EOF
  time "$dir/venv/bin/rehearse" run --source "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" --no-strict \
    --alembic-ini "$dir/alembic.ini" --report-dir "$dir/reports" || true
}

run_ckan() {
  local pkg dir=$RH_REAL/ckan db url mode
  pkg=$(venv ckan)
  # the wheel's ini says script_location = %(here)s and names ckan's own default database
  printf '[alembic]\nscript_location = %s/migration\nsqlalchemy.url = postgresql+psycopg2://set-by-rehearse/x\n' \
    "$pkg" > "$dir/alembic.ini"
  new_database ckan
  url="postgresql+psycopg2://$PGUSER@$PGHOST:$PGPORT/$db"
  # 001 creates the CKAN 1.x tables (what `ckan db upgrade` runs first on an empty database)
  "$dir/venv/bin/python" - "$dir/alembic.ini" "$url" 103676e0a497 <<'EOF'
import sys
from alembic import command
from alembic.config import Config
cfg = Config(sys.argv[1]); cfg.set_main_option("sqlalchemy.url", sys.argv[2])
command.upgrade(cfg, sys.argv[3])
EOF
  for mode in release stairway; do
    time timeout "$RUN_TIMEOUT" "$dir/venv/bin/rehearse" run --source "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" \
      --no-strict --alembic-ini "$dir/alembic.ini" --mode "$mode" --report-dir "$dir/reports-$mode" -q || true
  done
}

rehearse_venv() {  # rehearse in an environment of its own (as pipx would install it)
  local venv=$RH_REAL/rehearse-venv
  [ -x "$venv/bin/rehearse" ] || { "$PYTHON" -m venv "$venv" && "$venv/bin/pip" install -q -e "$REPO" >&2; }
  echo "$venv/bin/rehearse"
}

run_superset() {
  local pkg dir=$RH_REAL/superset db url rehearse
  pkg=$(venv superset own)  # pins sqlalchemy<2: rehearse cannot share this venv (docs/real-histories.md)
  rehearse=$(rehearse_venv)
  # not `| grep -q`: under pipefail, grep's early exit fails the pipeline (SIGPIPE)
  if [[ "$("$rehearse" run --help)" != *--flask-app* ]]; then
    echo "superset: this rehearse has no --python/--flask-app; see docs/real-histories.md" >&2
    return 0
  fi
  new_database superset
  url="postgresql+psycopg2://$PGUSER@$PGHOST:$PGPORT/$db"
  printf 'import os\nSECRET_KEY = "try-real-histories-not-a-secret"\nSQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DB_URL"]\n' \
    > "$dir/superset_config.py"
  # the user's configuration points at production: --flask-app must point the app at staging
  export SUPERSET_CONFIG_PATH=$dir/superset_config.py SUPERSET_DB_URL=$url FLASK_APP="superset.app:create_app()"
  timeout 600 "$dir/venv/bin/superset" db upgrade 4e6a06bad7a8  # Flask-Migrate, the project's way
  # the wheel's own alembic.ini: no script_location (Flask-Migrate's folder) and the logging
  # sections its env.py's fileConfig needs
  time timeout "$RUN_TIMEOUT" "$rehearse" run --source "postgresql://$PGUSER@$PGHOST:$PGPORT/$db" --no-strict \
    --alembic-ini "$pkg/migrations/alembic.ini" --python "$dir/venv/bin/python" \
    --flask-app superset.app:create_app --report-dir "$dir/reports" -q || true
}

for name in "${@:-prefect mlflow optuna ckan superset}"; do
  for n in $name; do
    echo "=== $n ${VERSION[$n]}"
    "run_$n"
  done
done
