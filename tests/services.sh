#!/usr/bin/env bash
# Provides what the test suite needs, and exports TEST_DATABASE_URL and TEST_REDIS_URL for
# it. Sourced by tests/run.sh.
#
#   - The programs the tests drive: Chromium (the browser tests), wrk (the HTTP benchmark's
#     test) and nginx (the deployment's proxy): installed (Debian, as root) when absent;
#     anywhere else it says what to install.
#   - TEST_DATABASE_URL / TEST_REDIS_URL already set: used as they are, nothing is touched.
#   - Otherwise local servers on 127.0.0.1: started when stopped, installed first (Debian,
#     as root) when absent.
# Each run takes a slot of its own, 8 to 15, held by a lock for as long as the run lives:
# its database is "tasktracker_test_<slot>" (made afresh; the scratch databases some tests
# build are named after it) and its Redis database is <slot>, so that runs side by side on
# one machine (two checkouts, say) never share one. The role "tasktracker_test" may create
# databases.

PG_PORT=5432
REDIS_PORT=6379

_say() { printf 'tests/services.sh: %s\n' "$*" >&2; }

_can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

_apt_install() {
  _say "installing $* with apt-get"
  if [ -z "${_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null && _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

_wait_for() {  # _wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

_ensure_tools() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  [ "${#missing[@]}" -eq 0 ] && return 0
  if _can_apt; then
    _apt_install "${missing[@]}"
  else
    _say "missing: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})"
    return 1
  fi
}

_claim_slot() {
  local slot
  for slot in 15 14 13 12 11 10 9 8; do
    exec {_SLOT_LOCK}>"/tmp/tasktracker-test-slot-$slot.lock"
    if flock -n "$_SLOT_LOCK"; then
      TEST_SLOT=$slot
      return 0
    fi
    exec {_SLOT_LOCK}>&-
  done
  _say "eight test runs are under way on this machine (slots 8 to 15): wait for one to end"
  return 1
}

_ensure_postgresql() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    if _can_apt; then
      _apt_install postgresql postgresql-contrib
    else
      _say "PostgreSQL (13 or newer, with contrib for pg_trgm) is not installed."
      _say "Install it (Debian/Ubuntu: sudo apt-get install postgresql postgresql-contrib)"
      _say "or point TEST_DATABASE_URL at a database the tests may drop and recreate."
      return 1
    fi
  fi
  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    _say "starting PostgreSQL $version"
    # pg_ctlcluster switches to the cluster's owner (postgres) itself: initdb and pg_ctl
    # refuse to run as root.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
      { _say "could not start PostgreSQL $version"; return 1; }
    _wait_for 30 pg_isready -q -h 127.0.0.1 -p "$PG_PORT" ||
      { _say "PostgreSQL did not become ready on 127.0.0.1:$PG_PORT"; return 1; }
  fi
  # The role and database, created as the postgres superuser over the local socket (peer
  # authentication), so this works whatever pg_hba.conf says about TCP.
  local psql=(psql -v ON_ERROR_STOP=1 -qtAX)
  if [ "$(id -u)" = 0 ]; then
    psql=(runuser -u postgres -- "${psql[@]}")
  elif [ "$(id -un)" != postgres ]; then
    psql=("${psql[@]}" -h 127.0.0.1 -U postgres)
  fi
  "${psql[@]}" -d postgres >/dev/null <<SQL || { _say "could not create the test role and database"; return 1; }
SELECT 'CREATE ROLE tasktracker_test LOGIN PASSWORD ''tasktracker_test'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tasktracker_test') \gexec
-- Some tests build scratch databases of their own (the migrations' check, browser tests).
ALTER ROLE tasktracker_test CREATEDB;
SET client_min_messages = warning;
DROP DATABASE IF EXISTS tasktracker_test_$TEST_SLOT WITH (FORCE);
CREATE DATABASE tasktracker_test_$TEST_SLOT OWNER tasktracker_test;
SQL
  export TEST_DATABASE_URL="postgresql://tasktracker_test:tasktracker_test@127.0.0.1:$PG_PORT/tasktracker_test_$TEST_SLOT"
}

_ensure_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    if _can_apt; then
      _apt_install redis-server
    else
      _say "Redis is not installed: install it (Debian/Ubuntu: sudo apt-get install redis-server)"
      _say "or point TEST_REDIS_URL at a Redis database the tests may flush."
      return 1
    fi
  fi
  if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    _say "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /tmp --logfile /tmp/tasktracker-test-redis.log ||
      { _say "could not start Redis"; return 1; }
    _wait_for 15 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping ||
      { _say "Redis did not become ready"; return 1; }
  fi
  export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/$TEST_SLOT"
}

_ensure_tools || return 1 2>/dev/null || exit 1
if [ -z "${TEST_DATABASE_URL:-}" ] || [ -z "${TEST_REDIS_URL:-}" ]; then
  _claim_slot || return 1 2>/dev/null || exit 1
fi
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  _ensure_postgresql || return 1 2>/dev/null || exit 1
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
  _ensure_redis || return 1 2>/dev/null || exit 1
fi
