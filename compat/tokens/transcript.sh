#!/bin/bash
# Prints a normalised transcript of token-store calls (batch tokens, token roles, creation
# and renewal details) against the server at 127.0.0.1:PORT, which must be a fresh dev server
# with root token `root`. Tokens, accessors, times and TTLs are masked. See README.md.
set -u
PORT=$1
A=http://127.0.0.1:$PORT/v1
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT
req() { # token method path [body]
  local out
  out=$(curl -s -o "$BODY" -w '%{http_code}' -H "X-Vault-Token: $1" -X"$2" "$A/$3" ${4:+-d "$4"})
  echo "== $2 $3 $(echo "${4:-}" | sed -E "s/(b\.|s\.)[A-Za-z0-9_-]{8,}/\1X/g") -> $out"
  jq -c -S 'del(.request_id) | (.. | objects | select(has("client_token")) | .client_token) |= (if . == null then null else (.[0:2]) end) | (.. | objects | select(has("accessor")) | .accessor) |= (if . == "" then "" else "ACC" end) | (.. | objects | select(has("id")) | .id) |= (if . == "" then "" else (.[0:2]) end) | (.. | objects | select(has("creation_time"))) |= (.creation_time = "T" | .expire_time = (if .expire_time == null then null else "E" end) | .issue_time = "I" | (if has("last_renewal") then .last_renewal="L" | .last_renewal_time="LT" else . end) | (if .ttl > 0 then .ttl = "ttl" else . end))' "$BODY" 2>/dev/null
}
tok() { jq -r .auth.client_token "$BODY"; }
R=root
req $R PUT sys/policies/acl/creator '{"policy":"path \"auth/token/create\" { capabilities = [\"update\"] }\npath \"auth/token/create-orphan\" { capabilities = [\"update\"] }\npath \"auth/token/create/*\" { capabilities = [\"update\"] }\npath \"auth/token/lookup\" { capabilities = [\"update\"] }"}'
req $R POST auth/token/create '{"type":"batch","ttl":"1h","policies":["default"]}'; B=$(tok)
req $B GET auth/token/lookup-self
req $R POST auth/token/lookup "{\"token\":\"$B\"}"
for p in renew-self revoke-self; do req $B POST auth/token/$p '{}'; done
req $R POST auth/token/renew "{\"token\":\"$B\"}"
req $R POST auth/token/revoke "{\"token\":\"$B\"}"
req $R POST auth/token/revoke-orphan "{\"token\":\"$B\"}"
req $R POST auth/token/lookup '{"token":"s.nonexistent"}'
req $R POST auth/token/lookup "{\"token\":\"${B}x\"}"
req $R POST auth/token/lookup "{\"token\":\"${B:0:60}\"}"
req ${B:0:60} GET auth/token/lookup-self
req ${B}AA GET auth/token/lookup-self
req $R POST auth/token/create '{"type":"batch","policies":["creator"]}'; BC=$(tok)
req $BC POST auth/token/create '{}'
req $BC POST auth/token/create-orphan '{}'
for body in '{"type":"batch","num_uses":2}' '{"type":"batch","period":"1h"}' '{"type":"batch","explicit_max_ttl":"1h"}' '{"type":"batch","policies":["root"]}' '{"type":"batch"}' '{"type":"bogus"}' '{"type":"default"}' '{"type":"batch","no_parent":true,"policies":["default"]}' '{"type":"batch","renewable":true,"policies":["default"]}' '{"type":"batch","policies":["default"],"ttl":"999999h"}' '{"type":"batch","policies":["default"],"meta":{"a":"b"},"display_name":"x y"}'; do req $R POST auth/token/create "$body"; done
req $R POST auth/token/create '{"policies":["creator"]}'; PT=$(tok)
req $PT POST auth/token/create '{"type":"batch","meta":{"a":"b"},"ttl":"10m"}'; BB=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$BB\"}"
req $PT POST auth/token/create-orphan '{"type":"batch","ttl":"10m"}'; BO=$(tok)
req $PT POST auth/token/create-orphan '{}'
req $PT POST auth/token/create '{"no_parent":true}'
req $PT POST auth/token/create '{"policies":["other"]}'
req $PT POST auth/token/create '{"period":"1h"}'
req $PT POST auth/token/create '{"id":"abc"}'
req $PT POST auth/token/revoke-self '{}'
req $R POST auth/token/lookup "{\"token\":\"$BB\"}"
req $R POST auth/token/lookup "{\"token\":\"$BO\"}"
req $BB GET auth/token/lookup-self
req $R POST auth/token/create '{"ttl":"1h","explicit_max_ttl":"90m","policies":["default"]}'; T=$(tok)
req $T POST auth/token/renew-self '{"increment":"2h"}'
req $T GET auth/token/lookup-self
req $R POST auth/token/create '{"period":"10m","explicit_max_ttl":"5m","policies":["default"]}'
req $R POST auth/token/create '{"period":"999999h","policies":["default"]}'
req $R POST auth/token/create '{"renewable":false,"policies":["default"]}'; T=$(tok)
req $R POST auth/token/renew "{\"token\":\"$T\"}"
req $R POST auth/token/renew-self '{}'
req $R POST auth/token/renew '{"token":"s.unknown"}'
req $R POST auth/token/revoke-orphan '{"token":"s.unknown"}'
req $R POST auth/token/revoke '{"token":"s.unknown"}'
req $R POST auth/token/revoke-accessor '{"accessor":"zz"}'
req $R POST auth/token/create '{"display_name":"a b/c!d-","policies":["default"]}'; T=$(tok)
req $T GET auth/token/lookup-self
# roles
req $R POST auth/token/roles/r1 '{}'
req $R GET auth/token/roles/r1
req $R GET auth/token/roles/nope
req $R DELETE auth/token/roles/nope
req $R POST auth/token/roles/r2 '{"allowed_policies":"a,B,default","disallowed_policies":"x,Y","allowed_policies_glob":"g*","disallowed_policies_glob":"d*","orphan":true,"renewable":false,"path_suffix":"v1.0","token_explicit_max_ttl":"2h","token_period":"1h","token_type":"default-batch","token_bound_cidrs":"127.0.0.1/32","token_no_default_policy":true,"token_num_uses":3,"allowed_entity_aliases":"e1,E2"}'
req $R GET auth/token/roles/r2
req $R POST auth/token/roles/r3 '{"period":"1h","explicit_max_ttl":"2h","bound_cidrs":"10.0.0.0/8"}'
req $R GET auth/token/roles/r3
req $R POST auth/token/roles/r4 '{"token_type":"batch"}'
req $R POST auth/token/roles/r4 '{"token_type":"batch","orphan":true}'
req $R POST auth/token/roles/r4 '{"token_type":"batch","orphan":true,"renewable":false}'
req $R GET auth/token/roles/r4
req $R POST auth/token/roles/r5 '{"token_type":"bogus"}'
req $R POST auth/token/roles/r5 '{"token_type":"default"}'
req $R POST auth/token/roles/r6 '{"path_suffix":"a/../b"}'
req $R POST auth/token/roles/r6 '{"path_suffix":"a..b"}'
req $R POST auth/token/roles/r6 '{"path_suffix":"x!"}'
req $R POST auth/token/roles/r7 '{"token_explicit_max_ttl":"999999h"}'
req $R POST auth/token/roles/r7 '{"token_period":"1h","period":"2h"}'
req $R GET auth/token/roles/r7
req $R POST auth/token/roles/r8 '{"token_num_uses":-1}'
req $R POST 'auth/token/roles/a!b' '{}'
req $R POST auth/token/roles/-ab '{}'
req $R POST auth/token/roles/Ab.c '{}'
req $R GET auth/token/roles/ab.c
req $R LIST auth/token/roles
req $R POST auth/token/create/r1 '{}'; T=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$T\"}"
req $R POST auth/token/create/r2 '{}'
req $R POST auth/token/create/r2 '{"policies":["a","zz"]}'
req $R POST auth/token/create/nope '{}'
req $R POST auth/token/roles/r9 '{"allowed_policies":"a,b","disallowed_policies":"b"}'
req $R POST auth/token/create/r9 '{}'
req $R POST auth/token/create/r9 '{"policies":["a"]}'; T=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$T\"}"
req $R POST auth/token/roles/r10 '{"disallowed_policies":"default,x"}'
req $R POST auth/token/create/r10 '{}'
req $R POST auth/token/create/r10 '{"policies":["x"]}'
req $R POST auth/token/roles/r11 '{"disallowed_policies_glob":"d*"}'
req $R POST auth/token/create/r11 '{"policies":["y"]}'
req $R POST auth/token/roles/r12 '{"token_type":"batch","orphan":true,"renewable":false,"token_num_uses":3}'
req $R GET auth/token/roles/r12
req $R POST auth/token/create/r12 '{"policies":["default"]}'; T=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$T\"}"
req $R POST auth/token/create/r12 '{"type":"service"}'
req $R POST auth/token/create/r3 '{}'; T=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$T\"}"
req $T POST auth/token/renew-self '{}'
req $R POST auth/token/create/r2 '{"policies":["a"],"type":"service"}'; T=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$T\"}"
req $R POST auth/token/roles/r13 '{"allowed_policies":"p1","token_explicit_max_ttl":"1h","token_period":"30m"}'
req $R POST auth/token/create/r13 '{"explicit_max_ttl":"2h","period":"10m"}'; T=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$T\"}"
req $R POST auth/token/create/r13 '{"entity_alias":"x"}'
req $R POST auth/token/create '{"entity_alias":"x"}'
req $R POST auth/token/create '{"policies":["response-wrapping"]}'
req $R POST auth/token/create '{"ttl":"999999h","policies":["default"]}'
req $R POST auth/token/create '{"explicit_max_ttl":"1h"}'
req $R PUT sys/policies/acl/creator '{"policy":"path \"auth/token/create\" { capabilities = [\"update\"] }\npath \"auth/token/create-orphan\" { capabilities = [\"update\"] }\npath \"auth/token/create/*\" { capabilities = [\"update\"] }\npath \"auth/token/renew-self\" { capabilities = [\"update\"] }"}'
req $R POST auth/token/create '{"policies":["creator"],"no_default_policy":true}'; A1=$(tok)
req $A1 POST auth/token/create '{"policies":["default"]}'
req $A1 POST auth/token/create '{}'
req $R POST auth/token/create '{"policies":["creator"]}'; A2=$(tok)
req $A2 POST auth/token/create '{"no_default_policy":true}'
req $A2 POST auth/token/create '{"policies":["creator"]}'
req $A2 POST auth/token/create '{"policies":["default"]}'
req $A2 POST auth/token/create '{"policies":["CREATOR"," default "]}'
req $R POST auth/token/roles/per '{"token_period":"1h","allowed_policies":"creator"}'
req $A2 POST auth/token/create/per '{}'; T=$(tok)
req $T POST auth/token/renew-self '{"increment":"3h"}'
req $R POST auth/token/roles/nd '{"token_no_default_policy":true}'
req $A2 POST auth/token/create/nd '{}'
req $R POST auth/token/roles/nd2 '{"token_no_default_policy":true,"allowed_policies":"creator"}'
req $A2 POST auth/token/create/nd2 '{}'
req $R POST auth/token/create '{"ttl":"1h","explicit_max_ttl":"30m","policies":["default"]}'
req $R POST auth/token/create '{"ttl":"1h","policies":["root"]}'; T=$(tok)
req $T POST auth/token/create '{"policies":["root"]}'
req $T POST auth/token/create '{"policies":["root"],"ttl":"10m"}'
req $R POST auth/token/create '{"explicit_max_ttl":"1h"}'
req $R POST auth/token/create '{"policies":["root","default"]}'
req $R POST auth/token/create '{"num_uses":-1}'
req $R POST auth/token/create '{"type":"batch","policies":["default"]}'; B=$(tok)
req $B POST auth/token/lookup-self '{}'
req $R POST auth/token/roles/bb '{"token_type":"batch","orphan":true,"renewable":false,"allowed_policies":"default"}'
req $A2 POST auth/token/create/bb '{}'; B=$(tok)
req $R POST auth/token/lookup "{\"token\":\"$B\"}"
req $R POST auth/token/roles/bb '{"token_type":"service"}'
req $R GET auth/token/roles/bb
req $R POST auth/token/roles/bb '{"renewable":true,"token_type":"batch"}'
req $R POST auth/token/roles/cid '{"token_bound_cidrs":["10.0.0.1","fe80::1/128","10.1.0.0/16"]}'
req $R GET auth/token/roles/cid
req $R POST auth/token/roles/cid '{"token_bound_cidrs":"notacidr"}'
req $R POST auth/token/create/per '{"entity_alias":"x"}'
req $R POST auth/token/create '{"entity_alias":"x"}'
req $R POST auth/token/roles/upd '{"allowed_policies":"a","orphan":true}'
req $R POST auth/token/roles/upd '{"renewable":false}'
req $R GET auth/token/roles/upd
