#!/usr/bin/env python3
"""Record reference answers of OpenBao to a broad sequence of Vault API calls.

For each family (sys, init, token, transit, auth, wrapping, cubbyhole, batch,
token-roles, pki, ssh) this starts a fresh OpenBao server on a free loopback port
(`bao server -dev` with root token `root`; the `init` family starts a server
that is not initialised), runs the family's fixed sequence of HTTP calls with
no sleeps between them, stops the server (also on error) and writes
`fixtures/<family>.json` next to this script. Answers are written normalised
(PEM blocks, OpenSSH keys and certificates, serial numbers, times, base64 DER:
README.md); later steps' placeholders resolve against the raw answers.

Usage (from the repository root):

    python3 compat/vault-api/record_openbao.py [family ...]

Only the Python standard library is used. `bao` must be on PATH (or set BAO
to the binary); the `pki` family also runs `openssl req` to make its CSRs, the
`ssh` family `ssh-keygen` to make its keys.
See README.md for the fixture format, the placeholders and the normalisation
rules the replay applies.
"""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

OPENBAO_VERSION = "2.7.2"
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
STARTUP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 20.0
ROOT = "root"
AUDIT_FILE = "/tmp/strongroom-vault-api-compat-audit.log"

# Never route loopback traffic through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER.add_handler(_NoRedirect())

PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_.\-]+)\}\}")


def S(name, method, path, body=None, *, query=None, token=ROOT, headers=None,
      raw_body=None, vary=()):
    """One step. `token` is the X-Vault-Token sent (None: no token header);
    `headers` adds further X-Vault-* headers; `raw_body` sends a string as is
    (for malformed JSON); `vary` lists response paths whose values differ on
    every run beyond the general normalisation rules (README.md)."""
    hdrs = {}
    if token is not None:
        hdrs["X-Vault-Token"] = token
    hdrs.update(headers or {})
    step = {"name": name, "method": method, "path": f"/v1/{path}",
            "query": dict(query or {}), "headers": hdrs, "body": body}
    if raw_body is not None:
        step["raw_body"] = raw_body
    if vary:
        step["vary"] = list(vary)
    return step


def policy(*stanzas):
    return "\n".join(
        'path "%s" { capabilities = [%s] }' % (p, ", ".join('"%s"' % c for c in caps))
        for p, caps in stanzas)


# Values that are per server build rather than per run, in sys answers.
BUILD = ["version", "build_date", "commit_date", "cluster_name", "cluster_id",
         "server_time_utc"]

SYS = [
    S("seal-status", "GET", "sys/seal-status", token=None, vary=BUILD),
    S("health", "GET", "sys/health", token=None, vary=BUILD),
    S("health-standbyok", "GET", "sys/health", query={"standbyok": "true"}, token=None, vary=BUILD),
    S("leader", "GET", "sys/leader", token=None, vary=["leader_address", "leader_cluster_address", "active_time"]),
    S("init-status", "GET", "sys/init", token=None),
    S("init-again", "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=None),
    S("init-threshold-gt-shares-initialised", "PUT", "sys/init", {"secret_shares": 2, "secret_threshold": 3}, token=None),
    S("host-info", "GET", "sys/host-info", vary=["data.cpu", "data.cpu_times", "data.disk", "data.host", "data.memory", "data.timestamp"]),
    S("key-status", "GET", "sys/key-status", vary=["data.install_time", "install_time", "data.encryptions", "encryptions"]),
    S("mounts-list", "GET", "sys/mounts"),
    S("mount-enable-kv", "POST", "sys/mounts/kvtest", {"type": "kv", "description": "test kv"}),
    S("mount-read", "GET", "sys/mounts/kvtest"),
    S("mount-tune-read", "GET", "sys/mounts/kvtest/tune"),
    S("mount-tune", "POST", "sys/mounts/kvtest/tune", {"default_lease_ttl": "1h", "max_lease_ttl": "2h", "description": "tuned"}),
    S("mount-tune-read-after", "GET", "sys/mounts/kvtest/tune"),
    S("mount-tune-default-over-max", "POST", "sys/mounts/kvtest/tune", {"default_lease_ttl": "3h"}),
    S("mount-tune-bad-duration", "POST", "sys/mounts/kvtest/tune", {"default_lease_ttl": "soon"}),
    S("mount-tune-bad-listing-visibility", "POST", "sys/mounts/kvtest/tune", {"listing_visibility": "loud"}),
    S("mount-tune-missing", "POST", "sys/mounts/nosuch/tune", {"default_lease_ttl": "1h"}),
    S("mount-tune-read-missing", "GET", "sys/mounts/nosuch/tune"),
    S("mount-enable-bad-type", "POST", "sys/mounts/bad", {"type": "nosuch"}),
    S("mount-enable-missing-type", "POST", "sys/mounts/bad", {}),
    S("mount-enable-existing", "POST", "sys/mounts/kvtest", {"type": "kv"}),
    S("mount-enable-under-existing", "POST", "sys/mounts/kvtest/sub", {"type": "kv"}),
    S("mount-enable-sys", "POST", "sys/mounts/sys", {"type": "kv"}),
    S("mount-enable-auth-prefix", "POST", "sys/mounts/auth/x", {"type": "kv"}),
    S("mount-enable-cubbyhole-type", "POST", "sys/mounts/cub2", {"type": "cubbyhole"}),
    S("mount-enable-bad-ttl", "POST", "sys/mounts/bad", {"type": "kv", "config": {"default_lease_ttl": "forever"}}),
    S("mount-enable-kv2-options", "POST", "sys/mounts/kv2test", {"type": "kv", "options": {"version": "2"}}),
    S("mount-enable-kv-v2-type", "POST", "sys/mounts/kv2b", {"type": "kv-v2"}),
    S("mounts-list-after", "GET", "sys/mounts"),
    S("internal-ui-mounts", "GET", "sys/internal/ui/mounts"),
    S("internal-ui-mounts-secret", "GET", "sys/internal/ui/mounts/secret"),
    S("internal-ui-mounts-missing", "GET", "sys/internal/ui/mounts/nosuch"),
    S("mount-disable", "DELETE", "sys/mounts/kvtest"),
    S("mount-disable-again", "DELETE", "sys/mounts/kvtest"),
    S("mount-disable-sys", "DELETE", "sys/mounts/sys"),
    S("mounts-delete-root", "DELETE", "sys/mounts"),
    S("mount-read-after-disable", "GET", "sys/mounts/kvtest"),
    S("remount", "POST", "sys/remount", {"from": "kv2b", "to": "kv2moved"}, vary=["data.migration_id"]),
    S("auth-list", "GET", "sys/auth"),
    S("auth-enable-userpass", "POST", "sys/auth/up", {"type": "userpass", "description": "people"}),
    S("auth-enable-bad-type", "POST", "sys/auth/bad", {"type": "nosuch"}),
    S("auth-enable-existing", "POST", "sys/auth/up", {"type": "userpass"}),
    S("auth-enable-token-type", "POST", "sys/auth/tok2", {"type": "token"}),
    S("auth-read", "GET", "sys/auth/up"),
    S("auth-tune-read", "GET", "sys/auth/up/tune"),
    S("auth-tune", "POST", "sys/auth/up/tune", {"default_lease_ttl": "30m", "max_lease_ttl": "1h"}),
    S("auth-tune-read-after", "GET", "sys/auth/up/tune"),
    S("auth-tune-token-read", "GET", "sys/auth/token/tune"),
    S("auth-list-after", "GET", "sys/auth"),
    S("auth-disable", "DELETE", "sys/auth/up"),
    S("auth-disable-token", "DELETE", "sys/auth/token"),
    S("auth-disable-missing", "DELETE", "sys/auth/nosuch"),
    S("policies-list", "GET", "sys/policy"),
    S("policies-acl-list", "LIST", "sys/policies/acl"),
    S("policy-default-read", "GET", "sys/policy/default"),
    S("policy-root-read", "GET", "sys/policy/root"),
    S("policy-write", "PUT", "sys/policy/p1", {"policy": policy(("secret/*", ["read"]))}),
    S("policy-read", "GET", "sys/policy/p1"),
    S("policy-acl-write", "PUT", "sys/policies/acl/p2", {"policy": policy(("secret/data/*", ["read", "list"]), ("sys/mounts", ["read"]))}),
    S("policy-acl-read", "GET", "sys/policies/acl/p2"),
    S("policy-write-uppercase", "PUT", "sys/policy/UPPER", {"policy": policy(("a/*", ["read"]))}),
    S("policy-read-uppercase", "GET", "sys/policy/upper"),
    S("policy-bad-capability", "PUT", "sys/policy/bad", {"policy": policy(("x/*", ["fly"]))}),
    S("policy-acl-bad-capability", "PUT", "sys/policies/acl/bad", {"policy": policy(("x/*", ["read", "fly"]))}),
    S("policy-bad-hcl", "PUT", "sys/policy/bad", {"policy": "path {"}),
    S("policy-missing-field", "PUT", "sys/policy/bad", {}),
    S("policy-write-root", "PUT", "sys/policy/root", {"policy": policy(("x/*", ["read"]))}),
    S("policy-delete-root", "DELETE", "sys/policy/root"),
    S("policy-delete-default", "DELETE", "sys/policy/default"),
    S("policy-read-missing", "GET", "sys/policy/nosuch"),
    S("policy-acl-read-missing", "GET", "sys/policies/acl/nosuch"),
    S("policy-for-caps", "PUT", "sys/policies/acl/caps", {"policy": policy(("secret/data/*", ["read", "update"]), ("sys/mounts", ["read", "sudo"]))}),
    S("token-for-caps", "POST", "auth/token/create", {"policies": ["caps"]}),
    S("capabilities", "POST", "sys/capabilities", {"token": "{{token-for-caps.auth.client_token}}", "paths": ["secret/data/x", "sys/mounts", "other/x"]}),
    S("capabilities-single-path", "POST", "sys/capabilities", {"token": "{{token-for-caps.auth.client_token}}", "path": "secret/data/x"}),
    S("capabilities-self", "POST", "sys/capabilities-self", {"paths": ["secret/data/x", "cubbyhole/x", "sys/policy"]}, token="{{token-for-caps.auth.client_token}}"),
    S("capabilities-accessor", "POST", "sys/capabilities-accessor", {"accessor": "{{token-for-caps.auth.accessor}}", "paths": ["secret/data/x"]}),
    S("capabilities-root", "POST", "sys/capabilities-self", {"paths": ["anything/at/all"]}),
    S("capabilities-bad-token", "POST", "sys/capabilities", {"token": "s.notatoken", "paths": ["secret/data/x"]}),
    S("capabilities-missing-paths", "POST", "sys/capabilities-self", {}),
    S("policy-delete", "DELETE", "sys/policy/p1"),
    S("policy-delete-again", "DELETE", "sys/policy/p1"),
    S("policy-acl-delete", "DELETE", "sys/policies/acl/p2"),
    S("policies-list-after", "GET", "sys/policy"),
    S("leases-lookup-bad", "PUT", "sys/leases/lookup", {"lease_id": "secret/nosuch/abc"}),
    S("leases-lookup-missing-id", "PUT", "sys/leases/lookup", {}),
    S("leases-list", "LIST", "sys/leases/lookup/"),
    S("leases-list-prefix", "LIST", "sys/leases/lookup/auth/token/"),
    S("leases-renew-bad", "PUT", "sys/leases/renew", {"lease_id": "secret/nosuch/abc"}),
    S("leases-revoke-bad", "PUT", "sys/leases/revoke", {"lease_id": "secret/nosuch/abc"}),
    S("leases-revoke-prefix", "PUT", "sys/leases/revoke-prefix/secret/nosuch"),
    S("leases-revoke-force", "PUT", "sys/leases/revoke-force/secret/nosuch"),
    S("leases-tidy", "PUT", "sys/leases/tidy"),
    S("audit-list", "GET", "sys/audit"),
    S("audit-enable", "PUT", "sys/audit/file", {"type": "file", "description": "compat", "options": {"file_path": AUDIT_FILE}}),
    S("audit-list-after", "GET", "sys/audit"),
    S("audit-enable-bad-type", "PUT", "sys/audit/other", {"type": "nosuch"}),
    S("audit-enable-existing", "PUT", "sys/audit/file", {"type": "file", "options": {"file_path": AUDIT_FILE}}),
    S("audit-enable-missing-path", "PUT", "sys/audit/file2", {"type": "file"}),
    S("audit-hash", "PUT", "sys/audit-hash/file", {"input": "secret"}, vary=["data.hash", "hash"]),
    S("audit-disable", "DELETE", "sys/audit/file"),
    S("audit-disable-missing", "DELETE", "sys/audit/nosuch"),
    S("unknown-mount", "GET", "nosuch/path"),
    S("unknown-mount-post", "POST", "nosuch/path", {"a": 1}),
    S("unknown-sys-path", "GET", "sys/nosuch"),
    S("malformed-json", "PUT", "sys/policy/x", raw_body="{bad"),
    S("malformed-json-kv", "PUT", "secret/data/x", raw_body="{\"data\": "),
    S("json-not-object", "PUT", "sys/policy/x", raw_body="[1,2]"),
    S("relative-path-encoded", "GET", "secret/data/%2E%2E/x"),
    S("relative-path-in-segment", "GET", "secret/data/a%2F..%2Fb"),
    S("relative-path-dots-in-name", "POST", "secret/data/a..b", {"data": {"a": 1}}),
    S("no-token", "GET", "sys/mounts", token=None),
    S("bad-token", "GET", "sys/mounts", token="s.notatoken"),
    S("limited-token-denied", "GET", "sys/policy", token="{{token-for-caps.auth.client_token}}"),
    S("limited-token-allowed", "GET", "sys/mounts", token="{{token-for-caps.auth.client_token}}", vary=["*"]),
    S("tools-random", "PUT", "sys/tools/random/16", vary=["data.random_bytes"]),
    S("tools-random-hex", "PUT", "sys/tools/random", {"bytes": 8, "format": "hex"}, vary=["data.random_bytes"]),
    S("tools-random-bad-format", "PUT", "sys/tools/random", {"format": "base32"}),
    S("tools-hash", "PUT", "sys/tools/hash/sha2-256", {"input": "aGVsbG8="}),
    S("tools-hash-bad-algorithm", "PUT", "sys/tools/hash/md5", {"input": "aGVsbG8="}),
    S("method-not-allowed-patch", "PATCH", "sys/policy/p1", {"policy": ""}),
]

INIT = [
    S("seal-status-uninitialised", "GET", "sys/seal-status", token=None, vary=BUILD),
    S("health-uninitialised", "GET", "sys/health", token=None, vary=BUILD),
    S("init-status-uninitialised", "GET", "sys/init", token=None),
    S("unseal-uninitialised", "PUT", "sys/unseal", {"key": "AAAA"}, token=None),
    S("mounts-uninitialised", "GET", "sys/mounts", token=None),
    S("init-threshold-gt-shares", "PUT", "sys/init", {"secret_shares": 2, "secret_threshold": 3}, token=None),
    S("init-zero-shares", "PUT", "sys/init", {"secret_shares": 0, "secret_threshold": 0}, token=None),
    S("init-threshold-one-of-many", "PUT", "sys/init", {"secret_shares": 3, "secret_threshold": 1}, token=None),
    S("init-pgp-mismatch", "PUT", "sys/init", {"secret_shares": 2, "secret_threshold": 2, "pgp_keys": ["a"]}, token=None),
    S("init", "PUT", "sys/init", {"secret_shares": 3, "secret_threshold": 2}, token=None,
      vary=["keys", "keys_base64", "root_token"]),
    S("init-again", "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=None),
    S("seal-status-sealed", "GET", "sys/seal-status", token=None, vary=BUILD),
    S("health-sealed", "GET", "sys/health", token=None, vary=BUILD),
    S("mounts-sealed", "GET", "sys/mounts", token="{{init.root_token}}"),
    S("unseal-bad-key", "PUT", "sys/unseal", {"key": "not-base64!"}, token=None),
    S("unseal-missing-key", "PUT", "sys/unseal", {}, token=None),
    S("unseal-first", "PUT", "sys/unseal", {"key": "{{init.keys.0}}"}, token=None, vary=BUILD + ["nonce"]),
    S("unseal-same-key-again", "PUT", "sys/unseal", {"key": "{{init.keys.0}}"}, token=None, vary=BUILD + ["nonce"]),
    S("unseal-reset", "PUT", "sys/unseal", {"reset": True}, token=None, vary=BUILD),
    S("unseal-second-a", "PUT", "sys/unseal", {"key": "{{init.keys_base64.1}}"}, token=None, vary=BUILD + ["nonce"]),
    S("unseal-second-b", "PUT", "sys/unseal", {"key": "{{init.keys.2}}"}, token=None, vary=BUILD),
    S("seal-status-unsealed", "GET", "sys/seal-status", token=None, vary=BUILD),
    S("seal-no-token", "PUT", "sys/seal", token=None),
    S("seal", "PUT", "sys/seal", token="{{init.root_token}}"),
    S("seal-status-after-seal", "GET", "sys/seal-status", token=None, vary=BUILD),
    S("seal-again", "PUT", "sys/seal", token="{{init.root_token}}"),
]

TOKEN = [
    S("lookup-self-root", "GET", "auth/token/lookup-self"),
    S("policy-p1", "PUT", "sys/policies/acl/p1", {"policy": policy(("secret/*", ["read"]), ("auth/token/create", ["update"]), ("auth/token/create-orphan", ["update"]))}),
    S("policy-p2", "PUT", "sys/policies/acl/p2", {"policy": policy(("kv/*", ["read"]))}),
    S("create-default", "POST", "auth/token/create", {}),
    S("create-full", "POST", "auth/token/create", {"policies": ["p1"], "ttl": "1h", "meta": {"team": "a"}, "display_name": "Web Tok", "renewable": True}),
    S("lookup-full", "POST", "auth/token/lookup", {"token": "{{create-full.auth.client_token}}"}),
    S("lookup-self-full", "GET", "auth/token/lookup-self", token="{{create-full.auth.client_token}}"),
    S("lookup-get-path", "GET", "auth/token/lookup/{{create-full.auth.client_token}}"),
    S("lookup-accessor", "POST", "auth/token/lookup-accessor", {"accessor": "{{create-full.auth.accessor}}"}),
    S("lookup-accessor-bad", "POST", "auth/token/lookup-accessor", {"accessor": "nosuchaccessor"}),
    S("lookup-accessor-missing", "POST", "auth/token/lookup-accessor", {}),
    S("lookup-bad-token", "POST", "auth/token/lookup", {"token": "s.notatoken"}),
    S("lookup-missing-token", "POST", "auth/token/lookup", {}),
    S("lookup-self-bad-token", "GET", "auth/token/lookup-self", token="s.notatoken"),
    S("child-create", "POST", "auth/token/create", {"policies": ["p1"]}, token="{{create-full.auth.client_token}}"),
    S("child-create-escalate", "POST", "auth/token/create", {"policies": ["p2"]}, token="{{create-full.auth.client_token}}"),
    S("child-create-no-parent", "POST", "auth/token/create", {"no_parent": True}, token="{{create-full.auth.client_token}}"),
    S("child-create-orphan", "POST", "auth/token/create-orphan", {"policies": ["p1"]}, token="{{create-full.auth.client_token}}"),
    S("child-lookup-orphan", "POST", "auth/token/lookup", {"token": "{{child-create-orphan.auth.client_token}}"}),
    S("create-orphan-root", "POST", "auth/token/create-orphan", {"policies": ["default"]}),
    S("create-no-parent-root", "POST", "auth/token/create", {"no_parent": True, "policies": ["default"]}),
    S("create-root-policy-child", "POST", "auth/token/create", {"policies": ["root"]}, token="{{create-full.auth.client_token}}"),
    S("create-no-default-policy", "POST", "auth/token/create", {"policies": ["p1"], "no_default_policy": True}),
    S("create-bad-ttl", "POST", "auth/token/create", {"ttl": "forever"}),
    S("create-bad-type", "POST", "auth/token/create", {"type": "weird"}),
    S("create-num-uses", "POST", "auth/token/create", {"num_uses": 2, "policies": ["p1"]}),
    S("num-uses-first", "GET", "auth/token/lookup-self", token="{{create-num-uses.auth.client_token}}"),
    S("num-uses-second", "GET", "auth/token/lookup-self", token="{{create-num-uses.auth.client_token}}"),
    S("num-uses-exhausted", "GET", "auth/token/lookup-self", token="{{create-num-uses.auth.client_token}}"),
    S("create-num-uses-negative", "POST", "auth/token/create", {"num_uses": -1}),
    S("create-explicit-max", "POST", "auth/token/create", {"ttl": "30m", "explicit_max_ttl": "1h"}),
    S("lookup-explicit-max", "POST", "auth/token/lookup", {"token": "{{create-explicit-max.auth.client_token}}"}),
    S("renew-past-explicit-max", "POST", "auth/token/renew", {"token": "{{create-explicit-max.auth.client_token}}", "increment": "2h"}),
    S("create-ttl-over-explicit-max", "POST", "auth/token/create", {"ttl": "2h", "explicit_max_ttl": "1h"}),
    S("create-period", "POST", "auth/token/create", {"period": "1h", "policies": ["default"]}),
    S("renew-period", "POST", "auth/token/renew", {"token": "{{create-period.auth.client_token}}", "increment": "5h"}),
    S("create-not-renewable", "POST", "auth/token/create", {"renewable": False, "ttl": "1h"}),
    S("renew-not-renewable", "POST", "auth/token/renew", {"token": "{{create-not-renewable.auth.client_token}}"}),
    S("renew", "POST", "auth/token/renew", {"token": "{{create-full.auth.client_token}}", "increment": "30m"}),
    S("lookup-after-renew", "POST", "auth/token/lookup", {"token": "{{create-full.auth.client_token}}"}),
    S("renew-self", "POST", "auth/token/renew-self", {"increment": "45m"}, token="{{create-full.auth.client_token}}"),
    S("renew-accessor", "POST", "auth/token/renew-accessor", {"accessor": "{{create-full.auth.accessor}}", "increment": "20m"}),
    S("renew-root", "POST", "auth/token/renew-self", {}),
    S("renew-bad-token", "POST", "auth/token/renew", {"token": "s.notatoken"}),
    S("renew-missing-token", "POST", "auth/token/renew", {}),
    S("accessors-list", "LIST", "auth/token/accessors", vary=["data.keys.*"]),
    S("accessors-list-no-sudo", "LIST", "auth/token/accessors", token="{{create-full.auth.client_token}}"),
    S("revoke-child", "POST", "auth/token/revoke", {"token": "{{child-create.auth.client_token}}"}),
    S("lookup-revoked-child", "POST", "auth/token/lookup", {"token": "{{child-create.auth.client_token}}"}),
    S("revoke-bad-token", "POST", "auth/token/revoke", {"token": "s.notatoken"}),
    S("revoke-accessor", "POST", "auth/token/revoke-accessor", {"accessor": "{{create-default.auth.accessor}}"}),
    S("lookup-revoked-by-accessor", "POST", "auth/token/lookup", {"token": "{{create-default.auth.client_token}}"}),
    S("revoke-accessor-bad", "POST", "auth/token/revoke-accessor", {"accessor": "nosuchaccessor"}),
    S("parent-for-orphan-revoke", "POST", "auth/token/create", {"policies": ["p1"]}),
    S("child-for-orphan-revoke", "POST", "auth/token/create", {"policies": ["p1"]}, token="{{parent-for-orphan-revoke.auth.client_token}}"),
    S("revoke-orphan", "POST", "auth/token/revoke-orphan", {"token": "{{parent-for-orphan-revoke.auth.client_token}}"}),
    S("child-survives-orphan-revoke", "POST", "auth/token/lookup", {"token": "{{child-for-orphan-revoke.auth.client_token}}"}),
    S("revoke-orphan-no-sudo", "POST", "auth/token/revoke-orphan", {"token": "{{child-for-orphan-revoke.auth.client_token}}"}, token="{{create-full.auth.client_token}}"),
    S("parent-for-cascade", "POST", "auth/token/create", {"policies": ["p1"]}),
    S("child-for-cascade", "POST", "auth/token/create", {"policies": ["p1"]}, token="{{parent-for-cascade.auth.client_token}}"),
    S("revoke-cascade", "POST", "auth/token/revoke", {"token": "{{parent-for-cascade.auth.client_token}}"}),
    S("child-gone-after-cascade", "POST", "auth/token/lookup", {"token": "{{child-for-cascade.auth.client_token}}"}),
    S("revoke-self", "POST", "auth/token/revoke-self", token="{{create-full.auth.client_token}}"),
    S("lookup-self-after-revoke-self", "GET", "auth/token/lookup-self", token="{{create-full.auth.client_token}}"),
    S("tidy", "POST", "auth/token/tidy"),
    S("unknown-token-path", "GET", "auth/token/nosuch"),
]

TRANSIT = [
    S("enable", "POST", "sys/mounts/transit", {"type": "transit"}),
    S("key-create", "POST", "transit/keys/aes"),
    S("key-read", "GET", "transit/keys/aes"),
    S("key-create-existing", "POST", "transit/keys/aes"),
    S("key-create-bad-type", "POST", "transit/keys/bad", {"type": "des"}),
    S("key-create-ed25519", "POST", "transit/keys/ed", {"type": "ed25519"}),
    S("key-read-ed25519", "GET", "transit/keys/ed"),
    S("key-create-ecdsa", "POST", "transit/keys/ec", {"type": "ecdsa-p256"}),
    S("key-create-rsa", "POST", "transit/keys/rsa", {"type": "rsa-2048"}),
    S("key-create-hmac", "POST", "transit/keys/hm", {"type": "hmac", "key_size": 32}),
    S("key-create-derived", "POST", "transit/keys/derived", {"derived": True}),
    S("key-create-convergent-no-derived", "POST", "transit/keys/conv", {"convergent_encryption": True}),
    S("keys-list", "LIST", "transit/keys"),
    S("key-read-missing", "GET", "transit/keys/nosuch"),
    S("encrypt", "POST", "transit/encrypt/aes", {"plaintext": "aGVsbG8gd29ybGQ="}),
    S("decrypt", "POST", "transit/decrypt/aes", {"ciphertext": "{{encrypt.data.ciphertext}}"}),
    S("encrypt-not-base64", "POST", "transit/encrypt/aes", {"plaintext": "not base64!"}),
    S("encrypt-missing-plaintext", "POST", "transit/encrypt/aes", {}),
    S("encrypt-upsert-new-key", "POST", "transit/encrypt/upserted", {"plaintext": "aGk="}),
    S("key-read-upserted", "GET", "transit/keys/upserted"),
    S("decrypt-bad-ciphertext", "POST", "transit/decrypt/aes", {"ciphertext": "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
    S("decrypt-no-prefix", "POST", "transit/decrypt/aes", {"ciphertext": "garbage"}),
    S("decrypt-missing-key", "POST", "transit/decrypt/nosuch", {"ciphertext": "{{encrypt.data.ciphertext}}"}),
    S("encrypt-derived-no-context", "POST", "transit/encrypt/derived", {"plaintext": "aGk="}),
    S("encrypt-derived", "POST", "transit/encrypt/derived", {"plaintext": "aGk=", "context": "Y3R4"}),
    S("decrypt-derived", "POST", "transit/decrypt/derived", {"ciphertext": "{{encrypt-derived.data.ciphertext}}", "context": "Y3R4"}),
    S("decrypt-derived-wrong-context", "POST", "transit/decrypt/derived", {"ciphertext": "{{encrypt-derived.data.ciphertext}}", "context": "b3RoZXI="}),
    S("encrypt-batch", "POST", "transit/encrypt/aes", {"batch_input": [{"plaintext": "YQ=="}, {"plaintext": "Yg=="}]}),
    S("decrypt-batch", "POST", "transit/decrypt/aes", {"batch_input": [{"ciphertext": "{{encrypt-batch.data.batch_results.0.ciphertext}}"}, {"ciphertext": "bad"}]}),
    S("rotate", "POST", "transit/keys/aes/rotate"),
    S("key-read-rotated", "GET", "transit/keys/aes"),
    S("encrypt-v2", "POST", "transit/encrypt/aes", {"plaintext": "aGVsbG8gd29ybGQ="}),
    S("encrypt-key-version-1", "POST", "transit/encrypt/aes", {"plaintext": "aGk=", "key_version": 1}),
    S("encrypt-key-version-9", "POST", "transit/encrypt/aes", {"plaintext": "aGk=", "key_version": 9}),
    S("rewrap", "POST", "transit/rewrap/aes", {"ciphertext": "{{encrypt.data.ciphertext}}"}),
    S("decrypt-rewrapped", "POST", "transit/decrypt/aes", {"ciphertext": "{{rewrap.data.ciphertext}}"}),
    S("config-min-decryption", "POST", "transit/keys/aes/config", {"min_decryption_version": 2}),
    S("decrypt-below-min", "POST", "transit/decrypt/aes", {"ciphertext": "{{encrypt.data.ciphertext}}"}),
    S("config-bad-min-encryption", "POST", "transit/keys/aes/config", {"min_encryption_version": 5}),
    S("config-min-decryption-too-high", "POST", "transit/keys/aes/config", {"min_decryption_version": 7}),
    S("key-read-configured", "GET", "transit/keys/aes"),
    S("datakey-plaintext", "POST", "transit/datakey/plaintext/aes", vary=["data.plaintext"]),
    S("datakey-wrapped", "POST", "transit/datakey/wrapped/aes", {"bits": 128}),
    S("datakey-bad-bits", "POST", "transit/datakey/plaintext/aes", {"bits": 100}),
    S("datakey-bad-kind", "POST", "transit/datakey/other/aes"),
    S("sign-ed25519", "POST", "transit/sign/ed", {"input": "aGVsbG8="}),
    S("verify-ed25519", "POST", "transit/verify/ed", {"input": "aGVsbG8=", "signature": "{{sign-ed25519.data.signature}}"}),
    S("verify-ed25519-wrong-input", "POST", "transit/verify/ed", {"input": "b3RoZXI=", "signature": "{{sign-ed25519.data.signature}}"}),
    S("verify-missing-signature", "POST", "transit/verify/ed", {"input": "aGVsbG8="}),
    S("sign-ecdsa-sha512", "POST", "transit/sign/ec/sha2-512", {"input": "aGVsbG8="}),
    S("verify-ecdsa-sha512", "POST", "transit/verify/ec/sha2-512", {"input": "aGVsbG8=", "signature": "{{sign-ecdsa-sha512.data.signature}}"}),
    S("sign-rsa-pss", "POST", "transit/sign/rsa", {"input": "aGVsbG8=", "signature_algorithm": "pss"}),
    S("verify-rsa-pss", "POST", "transit/verify/rsa", {"input": "aGVsbG8=", "signature": "{{sign-rsa-pss.data.signature}}", "signature_algorithm": "pss"}),
    S("sign-with-aes-key", "POST", "transit/sign/aes", {"input": "aGVsbG8="}),
    S("encrypt-with-ed25519-key", "POST", "transit/encrypt/ed", {"plaintext": "aGk="}),
    S("encrypt-with-hmac-key", "POST", "transit/encrypt/hm", {"plaintext": "aGk="}),
    S("sign-bad-hash", "POST", "transit/sign/ec/md5", {"input": "aGVsbG8="}),
    S("hmac", "POST", "transit/hmac/aes", {"input": "aGVsbG8="}),
    S("hmac-sha512", "POST", "transit/hmac/aes/sha2-512", {"input": "aGVsbG8="}),
    S("verify-hmac", "POST", "transit/verify/aes", {"input": "aGVsbG8=", "hmac": "{{hmac.data.hmac}}"}),
    S("verify-hmac-wrong", "POST", "transit/verify/aes", {"input": "b3RoZXI=", "hmac": "{{hmac.data.hmac}}"}),
    S("hmac-hmac-key", "POST", "transit/hmac/hm", {"input": "aGVsbG8="}),
    S("hmac-bad-algorithm", "POST", "transit/hmac/aes/sha1024", {"input": "aGVsbG8="}),
    S("hash-sha256", "POST", "transit/hash", {"input": "aGVsbG8="}),
    S("hash-sha512-hex", "POST", "transit/hash/sha2-512", {"input": "aGVsbG8=", "format": "hex"}),
    S("hash-bad-algorithm", "POST", "transit/hash/md5", {"input": "aGVsbG8="}),
    S("hash-bad-format", "POST", "transit/hash", {"input": "aGVsbG8=", "format": "base32"}),
    S("hash-not-base64", "POST", "transit/hash", {"input": "%%%"}),
    S("random-default", "POST", "transit/random", vary=["data.random_bytes"]),
    S("random-hex-16", "POST", "transit/random/16", {"format": "hex"}, vary=["data.random_bytes"]),
    S("random-too-many", "POST", "transit/random/100000000"),
    S("random-bad-format", "POST", "transit/random", {"format": "base32"}),
    S("export-not-exportable", "GET", "transit/export/encryption-key/aes"),
    S("delete-not-allowed", "DELETE", "transit/keys/aes"),
    S("config-deletion-allowed", "POST", "transit/keys/aes/config", {"deletion_allowed": True}),
    S("delete", "DELETE", "transit/keys/aes"),
    S("read-after-delete", "GET", "transit/keys/aes"),
    S("trim-missing-key", "POST", "transit/keys/nosuch/trim", {"min_available_version": 1}),
]

AUTH = [
    S("userpass-enable", "POST", "sys/auth/userpass", {"type": "userpass"}),
    S("userpass-user-create", "POST", "auth/userpass/users/alice", {"password": "pw-alice", "token_policies": ["default", "dev"], "token_ttl": "1h"}),
    S("userpass-user-read", "GET", "auth/userpass/users/alice"),
    S("userpass-user-missing-password", "POST", "auth/userpass/users/bob", {}),
    S("userpass-user-create-bob", "POST", "auth/userpass/users/bob", {"password": "pw-bob"}),
    S("userpass-users-list", "LIST", "auth/userpass/users"),
    S("userpass-login", "POST", "auth/userpass/login/alice", {"password": "pw-alice"}, token=None),
    S("userpass-login-lookup", "GET", "auth/token/lookup-self", token="{{userpass-login.auth.client_token}}"),
    S("userpass-login-bad-password", "POST", "auth/userpass/login/alice", {"password": "nope"}, token=None),
    S("userpass-login-unknown-user", "POST", "auth/userpass/login/nobody", {"password": "nope"}, token=None),
    S("userpass-login-missing-password", "POST", "auth/userpass/login/alice", {}, token=None),
    S("userpass-password-update", "POST", "auth/userpass/users/alice/password", {"password": "pw-new"}),
    S("userpass-login-old-password", "POST", "auth/userpass/login/alice", {"password": "pw-alice"}, token=None),
    S("userpass-login-new-password", "POST", "auth/userpass/login/alice", {"password": "pw-new"}, token=None),
    S("userpass-policies-update", "POST", "auth/userpass/users/alice/policies", {"token_policies": ["p9"]}),
    S("userpass-user-read-updated", "GET", "auth/userpass/users/alice"),
    S("userpass-user-bad-ttl", "POST", "auth/userpass/users/carol", {"password": "x", "token_ttl": "nope"}),
    S("userpass-user-delete", "DELETE", "auth/userpass/users/bob"),
    S("userpass-user-read-deleted", "GET", "auth/userpass/users/bob"),
    S("userpass-login-deleted", "POST", "auth/userpass/login/bob", {"password": "pw-bob"}, token=None),
    S("approle-enable", "POST", "sys/auth/approle", {"type": "approle"}),
    S("approle-role-create", "POST", "auth/approle/role/web", {"token_policies": ["default", "web"], "secret_id_ttl": "10m", "token_ttl": "20m", "token_max_ttl": "30m"}),
    S("approle-role-read", "GET", "auth/approle/role/web"),
    S("approle-roles-list", "LIST", "auth/approle/role"),
    S("approle-role-id", "GET", "auth/approle/role/web/role-id", vary=["data.role_id"]),
    S("approle-role-id-set", "POST", "auth/approle/role/web/role-id", {"role_id": "web-role-id"}),
    S("approle-role-id-after-set", "GET", "auth/approle/role/web/role-id"),
    S("approle-secret-id", "POST", "auth/approle/role/web/secret-id", {"metadata": "{\"env\":\"test\"}"}),
    S("approle-secret-id-lookup", "POST", "auth/approle/role/web/secret-id/lookup", {"secret_id": "{{approle-secret-id.data.secret_id}}"}),
    S("approle-secret-id-accessor-lookup", "POST", "auth/approle/role/web/secret-id-accessor/lookup", {"secret_id_accessor": "{{approle-secret-id.data.secret_id_accessor}}"}),
    S("approle-secret-id-lookup-bad", "POST", "auth/approle/role/web/secret-id/lookup", {"secret_id": "nosuch"}),
    S("approle-secret-ids-list", "LIST", "auth/approle/role/web/secret-id", vary=["data.keys.*"]),
    S("approle-custom-secret-id", "POST", "auth/approle/role/web/custom-secret-id", {"secret_id": "my-secret-id"}),
    S("approle-login", "POST", "auth/approle/login", {"role_id": "web-role-id", "secret_id": "{{approle-secret-id.data.secret_id}}"}, token=None),
    S("approle-login-lookup", "GET", "auth/token/lookup-self", token="{{approle-login.auth.client_token}}"),
    S("approle-login-custom", "POST", "auth/approle/login", {"role_id": "web-role-id", "secret_id": "my-secret-id"}, token=None),
    S("approle-login-bad-secret", "POST", "auth/approle/login", {"role_id": "web-role-id", "secret_id": "wrong"}, token=None),
    S("approle-login-bad-role", "POST", "auth/approle/login", {"role_id": "nosuch", "secret_id": "wrong"}, token=None),
    S("approle-login-missing-role-id", "POST", "auth/approle/login", {"secret_id": "wrong"}, token=None),
    S("approle-role-num-uses", "POST", "auth/approle/role/once", {"secret_id_num_uses": 1, "token_policies": ["default"]}),
    S("approle-once-role-id", "GET", "auth/approle/role/once/role-id"),
    S("approle-once-secret-id", "POST", "auth/approle/role/once/secret-id"),
    S("approle-once-login", "POST", "auth/approle/login", {"role_id": "{{approle-once-role-id.data.role_id}}", "secret_id": "{{approle-once-secret-id.data.secret_id}}"}, token=None),
    S("approle-once-login-again", "POST", "auth/approle/login", {"role_id": "{{approle-once-role-id.data.role_id}}", "secret_id": "{{approle-once-secret-id.data.secret_id}}"}, token=None),
    S("approle-secret-id-destroy", "POST", "auth/approle/role/web/secret-id/destroy", {"secret_id": "{{approle-secret-id.data.secret_id}}"}),
    S("approle-login-destroyed", "POST", "auth/approle/login", {"role_id": "web-role-id", "secret_id": "{{approle-secret-id.data.secret_id}}"}, token=None),
    S("approle-secret-id-accessor-destroy", "POST", "auth/approle/role/web/secret-id-accessor/destroy", {"secret_id_accessor": "{{approle-custom-secret-id.data.secret_id_accessor}}"}),
    S("approle-role-bad-field", "POST", "auth/approle/role/bad", {"secret_id_num_uses": "many"}),
    S("approle-role-missing", "GET", "auth/approle/role/nosuch"),
    S("approle-role-delete", "DELETE", "auth/approle/role/once"),
    S("approle-secret-id-missing-role", "POST", "auth/approle/role/once/secret-id"),
    S("jwt-enable", "POST", "sys/auth/jwt", {"type": "jwt"}),
    S("jwt-config-read-empty", "GET", "auth/jwt/config"),
    S("jwt-config-nothing", "POST", "auth/jwt/config", {}),
    S("jwt-config-two-sources", "POST", "auth/jwt/config", {"jwks_url": "https://127.0.0.1:1/jwks", "jwt_validation_pubkeys": ["x"]}),
    S("jwt-config-bad-pubkey", "POST", "auth/jwt/config", {"jwt_validation_pubkeys": ["not a pem"]}),
    S("jwt-login-unconfigured", "POST", "auth/jwt/login", {"role": "r", "jwt": "a.b.c"}, token=None),
    S("jwt-role-missing-user-claim", "POST", "auth/jwt/role/r", {"role_type": "jwt", "bound_audiences": ["x"]}),
    S("jwt-role-bad-type", "POST", "auth/jwt/role/r", {"role_type": "saml", "user_claim": "sub"}),
    S("jwt-role-create", "POST", "auth/jwt/role/r", {"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["x"], "token_policies": ["default"]}),
    S("jwt-role-read", "GET", "auth/jwt/role/r"),
    S("jwt-roles-list", "LIST", "auth/jwt/role"),
    S("jwt-login-missing-jwt", "POST", "auth/jwt/login", {"role": "r"}, token=None),
    S("auth-unknown-mount-login", "POST", "auth/nosuch/login", {"password": "x"}, token=None),
]

WRAPPING = [
    S("kv-write", "POST", "secret/data/app", {"data": {"user": "u1"}}),
    S("wrap", "POST", "sys/wrapping/wrap", {"a": "b", "n": 1}, headers={"X-Vault-Wrap-TTL": "60s"}),
    S("wrap-no-ttl", "POST", "sys/wrapping/wrap", {"a": "b"}),
    S("wrap-bad-ttl", "POST", "sys/wrapping/wrap", {"a": "b"}, headers={"X-Vault-Wrap-TTL": "soon"}),
    S("lookup", "POST", "sys/wrapping/lookup", {"token": "{{wrap.wrap_info.token}}"}),
    S("lookup-unauthenticated", "POST", "sys/wrapping/lookup", {"token": "{{wrap.wrap_info.token}}"}, token=None),
    S("lookup-bad", "POST", "sys/wrapping/lookup", {"token": "s.notawrappingtoken"}),
    S("wrap-to-misuse", "POST", "sys/wrapping/wrap", {"m": "u"}, headers={"X-Vault-Wrap-TTL": "60s"}),
    S("wrapping-token-as-token", "GET", "auth/token/lookup-self", token="{{wrap-to-misuse.wrap_info.token}}"),
    S("unwrap-misused", "POST", "sys/wrapping/unwrap", {"token": "{{wrap-to-misuse.wrap_info.token}}"}),
    S("rewrap", "POST", "sys/wrapping/rewrap", {"token": "{{wrap.wrap_info.token}}"}),
    S("unwrap-old-after-rewrap", "POST", "sys/wrapping/unwrap", {"token": "{{wrap.wrap_info.token}}"}),
    S("unwrap-rewrapped", "POST", "sys/wrapping/unwrap", {"token": "{{rewrap.wrap_info.token}}"}),
    S("unwrap-again", "POST", "sys/wrapping/unwrap", {"token": "{{rewrap.wrap_info.token}}"}),
    S("wrap-for-header-unwrap", "POST", "sys/wrapping/wrap", {"x": "y"}, headers={"X-Vault-Wrap-TTL": "5m"}),
    S("unwrap-with-header", "POST", "sys/wrapping/unwrap", token="{{wrap-for-header-unwrap.wrap_info.token}}"),
    S("unwrap-missing", "POST", "sys/wrapping/unwrap", {}),
    S("unwrap-bad", "POST", "sys/wrapping/unwrap", {"token": "s.notawrappingtoken"}),
    S("kv-read-wrapped", "GET", "secret/data/app", headers={"X-Vault-Wrap-TTL": "120"}),
    S("kv-lookup-wrapped", "POST", "sys/wrapping/lookup", {"token": "{{kv-read-wrapped.wrap_info.token}}"}),
    S("kv-unwrap", "POST", "sys/wrapping/unwrap", {"token": "{{kv-read-wrapped.wrap_info.token}}"}),
    S("token-create-wrapped", "POST", "auth/token/create", {"policies": ["default"]}, headers={"X-Vault-Wrap-TTL": "60s"}),
    S("token-unwrap", "POST", "sys/wrapping/unwrap", {"token": "{{token-create-wrapped.wrap_info.token}}"}),
    S("token-unwrapped-lookup", "GET", "auth/token/lookup-self", token="{{token-unwrap.auth.client_token}}"),
    S("approle-enable", "POST", "sys/auth/approle", {"type": "approle"}),
    S("approle-role", "POST", "auth/approle/role/web", {"token_policies": ["default"]}),
    S("approle-secret-id-wrapped", "POST", "auth/approle/role/web/secret-id", headers={"X-Vault-Wrap-TTL": "60s"}),
    S("approle-secret-id-unwrap", "POST", "sys/wrapping/unwrap", {"token": "{{approle-secret-id-wrapped.wrap_info.token}}"}),
    S("wrap-ttl-too-long", "POST", "sys/wrapping/wrap", {"a": "b"}, headers={"X-Vault-Wrap-TTL": "9999h"}),
    S("wrap-policy", "PUT", "sys/policies/acl/wrapmax", {"policy": 'path "sys/wrapping/wrap" { capabilities = ["update"] max_wrapping_ttl = "1m" }'}),
    S("wrap-policy-token", "POST", "auth/token/create", {"policies": ["wrapmax"]}),
    S("wrap-over-policy-max", "POST", "sys/wrapping/wrap", {"a": "b"}, token="{{wrap-policy-token.auth.client_token}}", headers={"X-Vault-Wrap-TTL": "5m"}),
    S("wrap-within-policy-max", "POST", "sys/wrapping/wrap", {"a": "b"}, token="{{wrap-policy-token.auth.client_token}}", headers={"X-Vault-Wrap-TTL": "30s"}),
]

CUBBYHOLE = [
    S("mount-listed", "GET", "sys/mounts/cubbyhole"),
    S("write", "POST", "cubbyhole/app", {"user": "u1", "n": 2}),
    S("read", "GET", "cubbyhole/app"),
    S("write-nested", "POST", "cubbyhole/dir/one", {"a": "b"}),
    S("list", "LIST", "cubbyhole/"),
    S("list-dir", "LIST", "cubbyhole/dir"),
    S("read-missing", "GET", "cubbyhole/nosuch"),
    S("other-token", "POST", "auth/token/create", {"policies": ["default"]}),
    S("other-reads-root-path", "GET", "cubbyhole/app", token="{{other-token.auth.client_token}}"),
    S("other-list-empty", "LIST", "cubbyhole/", token="{{other-token.auth.client_token}}"),
    S("other-writes", "POST", "cubbyhole/app", {"mine": "yes"}, token="{{other-token.auth.client_token}}"),
    S("other-reads-own", "GET", "cubbyhole/app", token="{{other-token.auth.client_token}}"),
    S("root-still-sees-own", "GET", "cubbyhole/app"),
    S("revoke-other", "POST", "auth/token/revoke", {"token": "{{other-token.auth.client_token}}"}),
    S("revoked-reads", "GET", "cubbyhole/app", token="{{other-token.auth.client_token}}"),
    S("new-token", "POST", "auth/token/create", {"policies": ["default"]}),
    S("new-token-sees-nothing", "GET", "cubbyhole/app", token="{{new-token.auth.client_token}}"),
    S("delete", "DELETE", "cubbyhole/app"),
    S("read-after-delete", "GET", "cubbyhole/app"),
    S("delete-missing", "DELETE", "cubbyhole/nosuch"),
    S("enable-second", "POST", "sys/mounts/cub2", {"type": "cubbyhole"}),
    S("disable", "DELETE", "sys/mounts/cubbyhole"),
    S("tune-read", "GET", "sys/mounts/cubbyhole/tune"),
]

BATCH = [
    S("policy", "PUT", "sys/policies/acl/reader", {"policy": policy(("secret/*", ["read"]), ("auth/token/create", ["update"]), ("cubbyhole/*", ["read", "create", "update"]))}),
    S("create", "POST", "auth/token/create", {"type": "batch", "policies": ["reader"], "ttl": "1h"}),
    S("create-batch-as-root", "POST", "auth/token/create", {"type": "batch"}),
    S("create-default-ttl", "POST", "auth/token/create", {"type": "batch", "policies": ["reader"]}),
    S("lookup", "POST", "auth/token/lookup", {"token": "{{create.auth.client_token}}"}),
    S("lookup-self", "GET", "auth/token/lookup-self", token="{{create.auth.client_token}}"),
    S("use-for-read", "GET", "secret/data/nothing", token="{{create.auth.client_token}}"),
    S("renew", "POST", "auth/token/renew", {"token": "{{create.auth.client_token}}"}),
    S("renew-self", "POST", "auth/token/renew-self", token="{{create.auth.client_token}}"),
    S("create-child-from-batch", "POST", "auth/token/create", {"policies": ["reader"]}, token="{{create.auth.client_token}}"),
    S("cubbyhole-with-batch", "POST", "cubbyhole/x", {"a": "b"}, token="{{create.auth.client_token}}"),
    S("create-batch-with-period", "POST", "auth/token/create", {"type": "batch", "period": "1h", "policies": ["reader"]}),
    S("create-batch-num-uses", "POST", "auth/token/create", {"type": "batch", "num_uses": 3, "policies": ["reader"]}),
    S("create-batch-explicit-max", "POST", "auth/token/create", {"type": "batch", "explicit_max_ttl": "2h", "ttl": "1h", "policies": ["reader"]}),
    S("create-batch-orphan", "POST", "auth/token/create-orphan", {"type": "batch", "policies": ["reader"]}),
    S("lookup-orphan", "POST", "auth/token/lookup", {"token": "{{create-batch-orphan.auth.client_token}}"}),
    S("create-batch-renewable", "POST", "auth/token/create", {"type": "batch", "renewable": True, "policies": ["reader"]}),
    S("revoke", "POST", "auth/token/revoke", {"token": "{{create.auth.client_token}}"}),
    S("lookup-after-revoke", "POST", "auth/token/lookup", {"token": "{{create.auth.client_token}}"}),
    S("revoke-self", "POST", "auth/token/revoke-self", token="{{create-default-ttl.auth.client_token}}"),
    S("parent-service", "POST", "auth/token/create", {"policies": ["reader"]}),
    S("batch-child-of-service", "POST", "auth/token/create", {"type": "batch", "policies": ["reader"]}, token="{{parent-service.auth.client_token}}"),
    S("revoke-parent", "POST", "auth/token/revoke", {"token": "{{parent-service.auth.client_token}}"}),
    S("batch-child-after-parent-revoke", "GET", "auth/token/lookup-self", token="{{batch-child-of-service.auth.client_token}}"),
    S("accessors-list", "LIST", "auth/token/accessors", vary=["data.keys.*"]),
]

ROLES = [
    S("policy-a", "PUT", "sys/policies/acl/pa", {"policy": policy(("secret/*", ["read"]))}),
    S("policy-b", "PUT", "sys/policies/acl/pb", {"policy": policy(("kv/*", ["read"]))}),
    S("roles-list-empty", "LIST", "auth/token/roles"),
    S("role-create", "POST", "auth/token/roles/r1", {"allowed_policies": ["pa"], "orphan": True, "token_period": "1h", "renewable": True}),
    S("role-read", "GET", "auth/token/roles/r1"),
    S("roles-list", "LIST", "auth/token/roles"),
    S("create-with-role", "POST", "auth/token/create/r1", {"policies": ["pa"]}),
    S("lookup-role-token", "POST", "auth/token/lookup", {"token": "{{create-with-role.auth.client_token}}"}),
    S("create-with-role-default-policies", "POST", "auth/token/create/r1", {}),
    S("create-with-role-disallowed", "POST", "auth/token/create/r1", {"policies": ["pb"]}),
    S("create-with-missing-role", "POST", "auth/token/create/nosuch", {}),
    S("role-disallowed", "POST", "auth/token/roles/r2", {"disallowed_policies": ["pb"], "renewable": False}),
    S("create-r2-allowed", "POST", "auth/token/create/r2", {"policies": ["pa"]}),
    S("create-r2-disallowed", "POST", "auth/token/create/r2", {"policies": ["pa", "pb"]}),
    S("renew-r2-token", "POST", "auth/token/renew", {"token": "{{create-r2-allowed.auth.client_token}}"}),
    S("role-batch-not-orphan", "POST", "auth/token/roles/rb", {"token_type": "batch", "allowed_policies": ["pa"]}),
    S("role-batch", "POST", "auth/token/roles/rb", {"token_type": "batch", "allowed_policies": ["pa"], "orphan": True, "renewable": False}),
    S("create-rb", "POST", "auth/token/create/rb", {"policies": ["pa"]}),
    S("lookup-rb", "POST", "auth/token/lookup", {"token": "{{create-rb.auth.client_token}}"}),
    S("role-bad-token-type", "POST", "auth/token/roles/rx", {"token_type": "plastic"}),
    S("role-bad-period", "POST", "auth/token/roles/rx", {"token_period": "often"}),
    S("role-cidr", "POST", "auth/token/roles/rc", {"token_bound_cidrs": ["127.0.0.1/32"], "allowed_policies": ["pa"]}),
    S("role-cidr-read", "GET", "auth/token/roles/rc"),
    S("create-rc", "POST", "auth/token/create/rc", {"policies": ["pa"]}),
    S("use-rc-from-loopback", "GET", "auth/token/lookup-self", token="{{create-rc.auth.client_token}}"),
    S("role-cidr-elsewhere", "POST", "auth/token/roles/rc2", {"token_bound_cidrs": ["10.1.2.0/24"]}),
    S("create-rc2", "POST", "auth/token/create/rc2", {}),
    S("use-rc2-from-loopback", "GET", "auth/token/lookup-self", token="{{create-rc2.auth.client_token}}"),
    S("role-bad-cidr", "POST", "auth/token/roles/rx", {"token_bound_cidrs": ["not-a-cidr"]}),
    S("role-update", "POST", "auth/token/roles/r1", {"allowed_policies": ["pa", "pb"], "token_explicit_max_ttl": "2h"}),
    S("role-read-updated", "GET", "auth/token/roles/r1"),
    S("role-explicit-max-create", "POST", "auth/token/create/r1", {"policies": ["pb"]}),
    S("role-delete", "DELETE", "auth/token/roles/r2"),
    S("role-read-deleted", "GET", "auth/token/roles/r2"),
    S("create-with-deleted-role", "POST", "auth/token/create/r2", {}),
    S("roles-list-after", "LIST", "auth/token/roles"),
]


def local_csr(common_name):
    """A fresh P-256 CSR for `common_name`, made by openssl at record time (the key is thrown
    away; the CSR is sent as it is, so it is in the fixture's body)."""
    out = subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", f"/CN={common_name}", "-keyout", "/dev/null"],
        check=True, capture_output=True, text=True).stdout
    return out.strip()


GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----"
MISSING_SERIAL = "00:11:22:33:44:55:66:77"


def pki_steps():
    """The `pki` family; a function because its CSRs are made (by openssl) when it runs."""
    csr_api = local_csr("api.example.com")
    csr_other = local_csr("api.other.org")
    csr_verbatim = local_csr("verbatim.other.net")
    example_role = {"allowed_domains": ["example.com"], "allow_subdomains": True,
                    "max_ttl": "72h", "key_type": "ec", "key_bits": 256}
    issued = "{{issue-ec.data.serial_number}}"
    return [
        # Mounts: pki (root), pki_int (intermediate), pki_exp (exported root), pki_scratch
        # (refused and odd root generations, untuned).
        S("mount-pki", "POST", "sys/mounts/pki", {"type": "pki"}),
        S("tune-pki", "POST", "sys/mounts/pki/tune", {"max_lease_ttl": "87600h"}),
        S("mount-pki-int", "POST", "sys/mounts/pki_int", {"type": "pki"}),
        S("tune-pki-int", "POST", "sys/mounts/pki_int/tune", {"max_lease_ttl": "87600h"}),
        S("mount-pki-exp", "POST", "sys/mounts/pki_exp", {"type": "pki"}),
        S("tune-pki-exp", "POST", "sys/mounts/pki_exp/tune", {"max_lease_ttl": "87600h"}),
        S("mount-pki-scratch", "POST", "sys/mounts/pki_scratch", {"type": "pki"}),
        S("mount-tune-read-pki", "GET", "sys/mounts/pki/tune"),
        # Before any CA.
        S("ca-pem-before-root", "GET", "pki/ca/pem"),
        S("cert-ca-before-root", "GET", "pki/cert/ca"),
        # Root generation.
        S("root-generate-bad-key-type", "POST", "pki_scratch/root/generate/internal",
          {"common_name": "example.com", "key_type": "bogus"}),
        S("root-generate-bad-rsa-bits", "POST", "pki_scratch/root/generate/internal",
          {"common_name": "example.com", "key_type": "rsa", "key_bits": 1000}),
        S("root-generate-bad-ec-bits", "POST", "pki_scratch/root/generate/internal",
          {"common_name": "example.com", "key_type": "ec", "key_bits": 1000}),
        S("root-generate-no-common-name", "POST", "pki_scratch/root/generate/internal",
          {"key_type": "ec", "key_bits": 256}),
        S("root-generate-bad-type-segment", "POST", "pki_scratch/root/generate/bogus",
          {"common_name": "example.com"}),
        S("root-generate-bad-ttl", "POST", "pki_scratch/root/generate/internal",
          {"common_name": "example.com", "ttl": "forever"}),
        S("root-generate-ttl-over-mount-max", "POST", "pki_scratch/root/generate/internal",
          {"common_name": "scratch.example.com", "ttl": "87600h", "key_type": "ec", "key_bits": 256}),
        S("root-generate-internal", "POST", "pki/root/generate/internal",
          {"common_name": "example.com", "ttl": "87600h", "key_type": "ec", "key_bits": 256}),
        S("ca-pem", "GET", "pki/ca/pem"),
        S("ca-der", "GET", "pki/ca"),
        S("cert-ca", "GET", "pki/cert/ca"),
        S("ca-chain", "GET", "pki/ca_chain"),
        S("cert-ca-chain", "GET", "pki/cert/ca_chain"),
        S("root-generate-exported", "POST", "pki_exp/root/generate/exported",
          {"common_name": "exported.example.com", "ttl": "8760h", "key_type": "rsa", "key_bits": 2048}),
        # Config.
        S("config-urls-read-default", "GET", "pki/config/urls"),
        S("config-urls-write", "POST", "pki/config/urls", {
            "issuing_certificates": ["http://127.0.0.1:8200/v1/pki/ca"],
            "crl_distribution_points": ["http://127.0.0.1:8200/v1/pki/crl"],
            "ocsp_servers": ["http://127.0.0.1:8200/v1/pki/ocsp"]}),
        S("config-urls-read", "GET", "pki/config/urls"),
        S("config-crl-read-default", "GET", "pki/config/crl"),
        S("config-crl-write", "POST", "pki/config/crl",
          {"expiry": "72h", "disable": False, "auto_rebuild": True}),
        S("config-crl-read", "GET", "pki/config/crl"),
        S("config-crl-bad-expiry", "POST", "pki/config/crl", {"expiry": "soon"}),
        # Intermediate.
        S("intermediate-generate-internal", "POST", "pki_int/intermediate/generate/internal",
          {"common_name": "example.com Intermediate", "key_type": "ec"}),
        S("sign-intermediate", "POST", "pki/root/sign-intermediate",
          {"csr": "{{intermediate-generate-internal.data.csr}}", "format": "pem", "ttl": "43800h"}),
        S("sign-intermediate-garbage-csr", "POST", "pki/root/sign-intermediate",
          {"csr": "not a csr", "ttl": "43800h"}),
        S("sign-intermediate-no-csr", "POST", "pki/root/sign-intermediate", {"ttl": "43800h"}),
        S("set-signed-garbage", "POST", "pki_int/intermediate/set-signed", {"certificate": GARBAGE_PEM}),
        S("set-signed-no-certificate", "POST", "pki_int/intermediate/set-signed", {}),
        S("set-signed", "POST", "pki_int/intermediate/set-signed",
          {"certificate": "{{sign-intermediate.data.certificate}}"}),
        S("set-signed-with-chain", "POST", "pki_int/intermediate/set-signed",
          {"certificate": "{{sign-intermediate.data.certificate}}\n{{sign-intermediate.data.issuing_ca}}"}),
        S("int-cert-ca-chain", "GET", "pki_int/cert/ca_chain"),
        S("mount-pki-int2", "POST", "sys/mounts/pki_int2", {"type": "pki"}),
        S("intermediate-generate-exported", "POST", "pki_int2/intermediate/generate/exported",
          {"common_name": "second Intermediate", "key_type": "rsa", "key_bits": 2048}),
        S("role-on-unsigned-intermediate", "POST", "pki_int2/roles/r", {"allow_any_name": True}),
        S("issue-on-unsigned-intermediate", "POST", "pki_int2/issue/r", {"common_name": "x.example.com"}),
        # Roles.
        S("roles-list-empty", "LIST", "pki_int/roles"),
        S("role-write-example", "POST", "pki_int/roles/example", example_role),
        S("role-read-example", "GET", "pki_int/roles/example"),
        S("roles-list", "LIST", "pki_int/roles"),
        S("role-write-rsa", "POST", "pki_int/roles/rsa",
          {"allowed_domains": ["example.com"], "allow_subdomains": True, "max_ttl": "72h",
           "key_type": "rsa", "key_bits": 2048}),
        S("role-write-any", "POST", "pki_int/roles/any", {"allow_any_name": True, "max_ttl": "72h"}),
        S("role-read-any", "GET", "pki_int/roles/any"),
        S("role-write-spiffe", "POST", "pki_int/roles/spiffe",
          {"allowed_domains": ["example.com"], "allow_subdomains": True,
           "allowed_uri_sans": ["spiffe://example.com/*"], "max_ttl": "72h"}),
        S("role-write-bad-key-type", "POST", "pki_int/roles/bad", {"key_type": "bogus"}),
        S("role-write-bad-key-bits", "POST", "pki_int/roles/bad", {"key_type": "ec", "key_bits": 1000}),
        S("role-write-ttl-over-max", "POST", "pki_int/roles/ttlover",
          {"allowed_domains": ["example.com"], "ttl": "100h", "max_ttl": "72h"}),
        S("role-read-ttl-over-max", "GET", "pki_int/roles/ttlover"),
        S("role-write-doomed", "POST", "pki_int/roles/doomed", {"allow_any_name": True}),
        S("role-delete", "DELETE", "pki_int/roles/doomed"),
        S("role-read-deleted", "GET", "pki_int/roles/doomed"),
        S("role-read-missing", "GET", "pki_int/roles/nosuch"),
        S("roles-list-after", "LIST", "pki_int/roles"),
        # Issue.
        S("issue-ec", "POST", "pki_int/issue/example", {"common_name": "www.example.com", "ttl": "24h"}),
        S("issue-sans", "POST", "pki_int/issue/example",
          {"common_name": "www.example.com", "alt_names": "a.example.com,b.example.com",
           "ip_sans": "127.0.0.1", "ttl": "24h"}),
        S("issue-uri-sans-not-allowed", "POST", "pki_int/issue/example",
          {"common_name": "www.example.com", "uri_sans": "spiffe://example.com/web"}),
        S("issue-uri-sans", "POST", "pki_int/issue/spiffe",
          {"common_name": "web.example.com", "uri_sans": "spiffe://example.com/web"}),
        S("issue-outside-role", "POST", "pki_int/issue/example", {"common_name": "www.other.org"}),
        S("issue-alt-name-outside-role", "POST", "pki_int/issue/example",
          {"common_name": "www.example.com", "alt_names": "www.other.org"}),
        S("issue-bare-domain", "POST", "pki_int/issue/example", {"common_name": "example.com"}),
        S("issue-ttl-over-role-max", "POST", "pki_int/issue/example",
          {"common_name": "www.example.com", "ttl": "100h"}),
        S("issue-missing-role", "POST", "pki_int/issue/missing-role", {"common_name": "www.example.com"}),
        S("issue-no-common-name", "POST", "pki_int/issue/example", {}),
        S("issue-bad-format", "POST", "pki_int/issue/example",
          {"common_name": "www.example.com", "format": "xml"}),
        S("issue-der", "POST", "pki_int/issue/example", {"common_name": "der.example.com", "format": "der"}),
        S("issue-pem-bundle", "POST", "pki_int/issue/example",
          {"common_name": "bundle.example.com", "format": "pem_bundle"}),
        S("issue-pkcs8", "POST", "pki_int/issue/example",
          {"common_name": "pkcs8.example.com", "private_key_format": "pkcs8"}),
        S("issue-exclude-cn", "POST", "pki_int/issue/example",
          {"common_name": "nocn.example.com", "exclude_cn_from_sans": True}),
        S("issue-rsa", "POST", "pki_int/issue/rsa", {"common_name": "rsa.example.com"}),
        S("issue-any-name", "POST", "pki_int/issue/any", {"common_name": "anything.other.org"}),
        # Sign.
        S("sign-cert-manager", "POST", "pki_int/sign/example",
          {"common_name": "api.example.com", "alt_names": "api.example.com,api2.example.com",
           "ip_sans": "127.0.0.1", "uri_sans": "", "ttl": "24h0m0s", "csr": csr_api,
           "exclude_cn_from_sans": "true"}),
        S("sign-csr-only", "POST", "pki_int/sign/example", {"csr": csr_api}),
        S("sign-garbage-csr", "POST", "pki_int/sign/example",
          {"csr": "not a csr", "common_name": "api.example.com"}),
        S("sign-no-csr", "POST", "pki_int/sign/example", {"common_name": "api.example.com"}),
        S("sign-csr-outside-role", "POST", "pki_int/sign/example", {"csr": csr_other}),
        S("sign-verbatim", "POST", "pki_int/sign-verbatim", {"csr": csr_verbatim}),
        S("sign-verbatim-ttl", "POST", "pki_int/sign-verbatim", {"csr": csr_verbatim, "ttl": "1h"}),
        S("sign-verbatim-role", "POST", "pki_int/sign-verbatim/example", {"csr": csr_other, "ttl": "100h"}),
        S("sign-verbatim-garbage-csr", "POST", "pki_int/sign-verbatim", {"csr": "not a csr"}),
        # Certificates and revocation.
        S("certs-list", "LIST", "pki_int/certs"),
        S("cert-read", "GET", f"pki_int/cert/{issued}"),
        S("cert-read-missing", "GET", f"pki_int/cert/{MISSING_SERIAL}"),
        S("revoke", "POST", "pki_int/revoke", {"serial_number": issued}),
        S("revoke-again", "POST", "pki_int/revoke", {"serial_number": issued}),
        S("revoke-missing", "POST", "pki_int/revoke", {"serial_number": MISSING_SERIAL}),
        S("revoke-no-serial", "POST", "pki_int/revoke", {}),
        S("cert-read-revoked", "GET", f"pki_int/cert/{issued}"),
        S("certs-revoked-list", "LIST", "pki_int/certs/revoked"),
        S("crl-pem", "GET", "pki_int/crl/pem"),
        S("crl-der", "GET", "pki_int/crl"),
        S("cert-crl", "GET", "pki_int/cert/crl"),
        S("crl-rotate", "GET", "pki_int/crl/rotate"),
        # Tidy.
        S("tidy-nothing", "POST", "pki_int/tidy", {}),
        S("tidy", "POST", "pki_int/tidy",
          {"tidy_cert_store": True, "tidy_revoked_certs": True, "safety_buffer": "1s"}),
        # Deleting a root; importing one.
        S("root-delete", "DELETE", "pki_exp/root"),
        S("ca-pem-after-root-delete", "GET", "pki_exp/ca/pem"),
        S("cert-ca-after-root-delete", "GET", "pki_exp/cert/ca"),
        S("mount-pki-imp", "POST", "sys/mounts/pki_imp", {"type": "pki"}),
        S("config-ca-garbage", "POST", "pki_imp/config/ca", {"pem_bundle": "garbage"}),
        S("config-ca-import", "POST", "pki_imp/config/ca",
          {"pem_bundle": "{{root-generate-exported.data.certificate}}\n{{root-generate-exported.data.private_key}}"}),
        S("config-ca-import-again", "POST", "pki_imp/config/ca",
          {"pem_bundle": "{{root-generate-exported.data.certificate}}\n{{root-generate-exported.data.private_key}}"}),
        S("ca-pem-imported", "GET", "pki_imp/ca/pem"),
        # The tidy started above has long finished by now (a few ms on an almost empty store;
        # the steps since give it the time, as the family has no sleeps).
        S("tidy-status", "GET", "pki_int/tidy-status"),
        # Unauthenticated.
        S("unauth-ca-pem", "GET", "pki_int/ca/pem", token=None),
        S("unauth-ca-der", "GET", "pki_int/ca", token=None),
        S("unauth-crl-pem", "GET", "pki_int/crl/pem", token=None),
        S("unauth-cert", "GET", "pki_int/cert/{{issue-sans.data.serial_number}}", token=None),
        S("unauth-ca-chain", "GET", "pki_int/ca_chain", token=None),
        S("unauth-role-read", "GET", "pki_int/roles/example", token=None),
        S("unauth-issue", "POST", "pki_int/issue/example", {"common_name": "www.example.com"}, token=None),
    ]


def local_ssh_key(key_type, bits=None):
    """A fresh OpenSSH key pair made by ssh-keygen at record time, as (private key, public key
    line): the private key in OpenSSH PEM form, the public key as the `.pub` file holds it
    (`<type> <base64> compat`, newline kept). Throwaway keys: both go into request bodies."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "key")
        args = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "compat", "-f", path]
        if bits is not None:
            args[2:2] = ["-b", str(bits)]
        subprocess.run(args, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        with open(path, encoding="ascii") as f:
            private = f.read()
        with open(path + ".pub", encoding="ascii") as f:
            public = f.read()
    return private, public


def ssh_steps():
    """The `ssh` family (the SSH secrets engine in CA mode); a function because its keys (the
    imported CA's and the clients') are made by ssh-keygen when it runs."""
    ca_private, ca_public = local_ssh_key("ed25519")
    _, ed_public = local_ssh_key("ed25519")
    _, rsa_public = local_ssh_key("rsa", 2048)
    _, ec_public = local_ssh_key("ecdsa", 256)
    _, rsa1024_public = local_ssh_key("rsa", 1024)
    user_role = {"key_type": "ca", "allow_user_certificates": True, "allowed_users": "alice,bob",
                 "default_user": "alice", "allowed_extensions": "permit-pty,permit-port-forwarding",
                 "default_extensions": {"permit-pty": ""}, "ttl": "1h", "max_ttl": "24h"}
    host_role = {"key_type": "ca", "allow_host_certificates": True,
                 "allowed_domains": "example.com", "allow_subdomains": True}
    return [
        # Mounts: ssh (a default CA, a second one, both deleted, then an ed25519 CA; user
        # roles), ssh_host (a CA from an empty body, then an ec one, which becomes the
        # default; host role), ssh_rsa (rsa 2048 CA; rsa signers), ssh_imp (imported CA).
        S("mount-ssh", "POST", "sys/mounts/ssh", {"type": "ssh"}),
        S("mount-ssh-host", "POST", "sys/mounts/ssh_host", {"type": "ssh"}),
        S("mount-ssh-rsa", "POST", "sys/mounts/ssh_rsa", {"type": "ssh"}),
        S("mount-ssh-imp", "POST", "sys/mounts/ssh_imp", {"type": "ssh"}),
        S("mount-read-ssh", "GET", "sys/mounts/ssh"),
        # The CA: before one, generated (default key type), again, deleted, generated again.
        S("config-ca-read-before", "GET", "ssh/config/ca"),
        S("public-key-before", "GET", "ssh/public_key", token=None),
        S("config-ca-generate", "POST", "ssh/config/ca", {"generate_signing_key": True}),
        S("config-ca-read", "GET", "ssh/config/ca"),
        S("public-key", "GET", "ssh/public_key", token=None),
        S("public-key-with-token", "GET", "ssh/public_key"),
        S("config-ca-generate-again", "POST", "ssh/config/ca", {"generate_signing_key": True}),
        S("issuers-list", "LIST", "ssh/issuers"),
        S("config-issuers-read", "GET", "ssh/config/issuers"),
        S("config-ca-delete", "DELETE", "ssh/config/ca"),
        S("config-ca-read-after-delete", "GET", "ssh/config/ca"),
        S("public-key-after-delete", "GET", "ssh/public_key", token=None),
        S("config-ca-delete-again", "DELETE", "ssh/config/ca"),
        S("config-ca-generate-ed25519", "POST", "ssh/config/ca",
          {"generate_signing_key": True, "key_type": "ed25519"}),
        S("config-ca-read-ed25519", "GET", "ssh/config/ca"),
        S("public-key-ed25519", "GET", "ssh/public_key", token=None),
        S("config-ca-rsa-bad-bits", "POST", "ssh_rsa/config/ca",
          {"generate_signing_key": True, "key_type": "rsa", "key_bits": 1000}),
        S("config-ca-bad-key-type", "POST", "ssh_rsa/config/ca",
          {"generate_signing_key": True, "key_type": "bogus"}),
        S("config-ca-rsa", "POST", "ssh_rsa/config/ca",
          {"generate_signing_key": True, "key_type": "rsa", "key_bits": 2048}),
        S("config-ca-read-rsa", "GET", "ssh_rsa/config/ca"),
        S("config-ca-nothing", "POST", "ssh_host/config/ca", {}),
        S("config-ca-not-generate", "POST", "ssh_host/config/ca", {"generate_signing_key": False}),
        S("config-ca-ec-bad-bits", "POST", "ssh_host/config/ca",
          {"generate_signing_key": True, "key_type": "ec", "key_bits": 1000}),
        S("config-ca-ec", "POST", "ssh_host/config/ca",
          {"generate_signing_key": True, "key_type": "ec", "key_bits": 256}),
        S("config-ca-read-ec", "GET", "ssh_host/config/ca"),
        # Import (ssh_imp), and a role signing before there is a CA.
        S("role-user-imp", "POST", "ssh_imp/roles/user", user_role),
        S("sign-no-ca", "POST", "ssh_imp/sign/user", {"public_key": ed_public}),
        S("config-ca-import-garbage", "POST", "ssh_imp/config/ca",
          {"private_key": "garbage", "public_key": ca_public}),
        S("config-ca-import-garbage-public", "POST", "ssh_imp/config/ca",
          {"private_key": ca_private, "public_key": "garbage"}),
        S("config-ca-import-only-public", "POST", "ssh_imp/config/ca", {"public_key": ca_public}),
        S("config-ca-import-only-private", "POST", "ssh_imp/config/ca", {"private_key": ca_private}),
        S("config-ca-import-and-generate", "POST", "ssh_imp/config/ca",
          {"private_key": ca_private, "public_key": ca_public, "generate_signing_key": True}),
        S("config-ca-import-mismatch", "POST", "ssh_imp/config/ca",
          {"private_key": ca_private, "public_key": ed_public}),
        S("config-ca-read-after-mismatch", "GET", "ssh_imp/config/ca"),
        S("config-ca-delete-imp", "DELETE", "ssh_imp/config/ca"),
        S("config-ca-import", "POST", "ssh_imp/config/ca",
          {"private_key": ca_private, "public_key": ca_public}),
        S("config-ca-read-imported", "GET", "ssh_imp/config/ca"),
        S("public-key-imported", "GET", "ssh_imp/public_key", token=None),
        S("config-ca-import-again", "POST", "ssh_imp/config/ca",
          {"private_key": ca_private, "public_key": ca_public}),
        S("sign-imported", "POST", "ssh_imp/sign/user", {"public_key": ed_public}),
        # Roles.
        S("roles-list-empty", "LIST", "ssh/roles"),
        S("role-user-write", "POST", "ssh/roles/user", user_role),
        S("role-user-read", "GET", "ssh/roles/user"),
        S("roles-list", "LIST", "ssh/roles"),
        S("role-user-rsa-write", "POST", "ssh_rsa/roles/user",
          {**user_role, "algorithm_signer": "rsa-sha2-256"}),
        S("role-user-rsa-read", "GET", "ssh_rsa/roles/user"),
        S("role-rsa-default-signer-write", "POST", "ssh_rsa/roles/dflt",
          {"key_type": "ca", "allow_user_certificates": True, "allowed_users": "*", "default_user": "alice"}),
        S("role-rsa-sha1-signer-write", "POST", "ssh_rsa/roles/sha1",
          {"key_type": "ca", "allow_user_certificates": True, "allowed_users": "*", "default_user": "alice",
           "algorithm_signer": "ssh-rsa"}),
        S("role-no-certificate-kind", "POST", "ssh/roles/nokind", {"key_type": "ca"}),
        S("role-minimal-write", "POST", "ssh/roles/minimal", {"key_type": "ca", "allow_user_certificates": True}),
        S("role-minimal-read", "GET", "ssh/roles/minimal"),
        S("role-host-write", "POST", "ssh_host/roles/host", host_role),
        S("role-host-read", "GET", "ssh_host/roles/host"),
        S("role-no-key-type", "POST", "ssh/roles/nokt", {"allow_user_certificates": True}),
        S("role-bad-key-type", "POST", "ssh/roles/bad", {"key_type": "bogus"}),
        S("role-otp-write", "POST", "ssh/roles/otp", {"key_type": "otp", "default_user": "alice", "cidr_list": "127.0.0.0/8"}),
        S("role-otp-read", "GET", "ssh/roles/otp"),
        S("role-dynamic-write", "POST", "ssh/roles/dyn", {"key_type": "dynamic", "default_user": "alice"}),
        S("role-bad-algorithm-signer", "POST", "ssh/roles/badalg",
          {"key_type": "ca", "allow_user_certificates": True, "algorithm_signer": "bogus"}),
        S("role-ttl-over-max", "POST", "ssh/roles/ttlover",
          {"key_type": "ca", "allow_user_certificates": True, "ttl": "48h", "max_ttl": "24h"}),
        S("role-key-lengths-write", "POST", "ssh/roles/lengths",
          {"key_type": "ca", "allow_user_certificates": True, "allowed_users": "*",
           "allowed_user_key_lengths": {"rsa": 2048}}),
        S("role-key-lengths-read", "GET", "ssh/roles/lengths"),
        # Sent as raw_body: its key_id_format holds a literal "{{...}}" that is not a
        # placeholder.
        {**S("role-key-id-format-write", "POST", "ssh/roles/keyid"),
         "raw_body": json.dumps({"key_type": "ca", "allow_user_certificates": True,
                                 "allowed_users": "*", "default_user": "alice",
                                 "key_id_format": "{{role_name}}-{{token_display_name}}",
                                 "not_before_duration": "30s"})},
        S("role-key-id-format-read", "GET", "ssh/roles/keyid"),
        S("role-critical-write", "POST", "ssh/roles/crit",
          {"key_type": "ca", "allow_user_certificates": True, "allowed_users": "*",
           "default_user": "alice", "allowed_critical_options": "source-address",
           "allow_user_key_ids": True}),
        S("role-doomed-write", "POST", "ssh/roles/doomed", {"key_type": "ca", "allow_user_certificates": True}),
        S("role-delete", "DELETE", "ssh/roles/doomed"),
        S("role-read-deleted", "GET", "ssh/roles/doomed"),
        S("role-read-missing", "GET", "ssh/roles/nosuch"),
        S("roles-list-after", "LIST", "ssh/roles"),
        # Sign.
        S("sign-user", "POST", "ssh/sign/user", {"public_key": ed_public, "valid_principals": "alice"}),
        S("sign-user-default-principal", "POST", "ssh/sign/user", {"public_key": ed_public}),
        S("sign-user-two-principals", "POST", "ssh/sign/user",
          {"public_key": ed_public, "valid_principals": "alice,bob"}),
        S("sign-user-mallory", "POST", "ssh/sign/user", {"public_key": ed_public, "valid_principals": "mallory"}),
        S("sign-user-cert-type-host", "POST", "ssh/sign/user",
          {"public_key": ed_public, "valid_principals": "alice", "cert_type": "host"}),
        S("sign-user-bad-cert-type", "POST", "ssh/sign/user",
          {"public_key": ed_public, "cert_type": "bogus"}),
        S("sign-user-ttl", "POST", "ssh/sign/user", {"public_key": ed_public, "ttl": "2h"}),
        S("sign-user-ttl-over-max", "POST", "ssh/sign/user", {"public_key": ed_public, "ttl": "48h"}),
        S("sign-user-extensions", "POST", "ssh/sign/user",
          {"public_key": ed_public, "extensions": {"permit-pty": "", "permit-port-forwarding": ""}}),
        S("sign-user-extension-not-allowed", "POST", "ssh/sign/user",
          {"public_key": ed_public, "extensions": {"permit-X11-forwarding": ""}}),
        S("sign-user-critical-options", "POST", "ssh/sign/user",
          {"public_key": ed_public, "critical_options": {"force-command": "ls"}}),
        S("sign-user-key-id", "POST", "ssh/sign/user", {"public_key": ed_public, "key_id": "custom-id"}),
        S("sign-user-malformed-key", "POST", "ssh/sign/user", {"public_key": "not a key"}),
        S("sign-user-no-key", "POST", "ssh/sign/user", {}),
        S("sign-user-rsa", "POST", "ssh/sign/user", {"public_key": rsa_public}),
        S("sign-user-ecdsa", "POST", "ssh/sign/user", {"public_key": ec_public}),
        S("sign-rsa-ca", "POST", "ssh_rsa/sign/user", {"public_key": ed_public}),
        S("sign-rsa-ca-default-signer", "POST", "ssh_rsa/sign/dflt", {"public_key": ed_public}),
        S("sign-rsa-ca-sha1-signer", "POST", "ssh_rsa/sign/sha1", {"public_key": ed_public}),
        S("sign-minimal", "POST", "ssh/sign/minimal", {"public_key": ed_public}),
        S("sign-minimal-principal", "POST", "ssh/sign/minimal", {"public_key": ed_public, "valid_principals": "anyone"}),
        S("sign-key-lengths-rsa1024", "POST", "ssh/sign/lengths", {"public_key": rsa1024_public, "valid_principals": "alice"}),
        S("sign-key-lengths-rsa2048", "POST", "ssh/sign/lengths", {"public_key": rsa_public, "valid_principals": "alice"}),
        S("sign-key-lengths-ed25519", "POST", "ssh/sign/lengths", {"public_key": ed_public, "valid_principals": "alice"}),
        S("sign-key-id-format", "POST", "ssh/sign/keyid", {"public_key": ed_public}),
        S("sign-critical-not-allowed", "POST", "ssh/sign/crit",
          {"public_key": ed_public, "critical_options": {"force-command": "ls"}}),
        S("sign-critical-allowed-key-id", "POST", "ssh/sign/crit",
          {"public_key": ed_public, "critical_options": {"source-address": "127.0.0.1/32"},
           "key_id": "custom-id"}),
        S("sign-otp-role", "POST", "ssh/sign/otp", {"public_key": ed_public}),
        S("sign-host", "POST", "ssh_host/sign/host",
          {"public_key": ec_public, "cert_type": "host", "valid_principals": "www.example.com"}),
        S("sign-host-outside", "POST", "ssh_host/sign/host",
          {"public_key": ec_public, "cert_type": "host", "valid_principals": "www.other.org"}),
        S("sign-host-bare-domain", "POST", "ssh_host/sign/host",
          {"public_key": ec_public, "cert_type": "host", "valid_principals": "example.com"}),
        S("sign-host-no-principal", "POST", "ssh_host/sign/host", {"public_key": ec_public, "cert_type": "host"}),
        S("sign-host-as-user", "POST", "ssh_host/sign/host",
          {"public_key": ec_public, "valid_principals": "www.example.com"}),
        S("sign-missing", "POST", "ssh/sign/missing", {"public_key": ed_public}),
        # Issue: the key pair made by the engine.
        S("issue-user", "POST", "ssh/issue/user", {"valid_principals": "alice"}),
        S("issue-user-ed25519", "POST", "ssh/issue/user", {"key_type": "ed25519"}),
        S("issue-user-rsa", "POST", "ssh/issue/user", {"key_type": "rsa", "key_bits": 2048}),
        S("issue-user-ec", "POST", "ssh/issue/user", {"key_type": "ec"}),
        S("issue-bad-key-type", "POST", "ssh/issue/user", {"key_type": "bogus"}),
        S("issue-missing", "POST", "ssh/issue/missing", {"key_type": "ed25519"}),
        # OTP verification: an unknown OTP, none, and one made by creds/ on the otp role.
        S("verify-otp", "POST", "ssh/verify", {"otp": "00000000-0000-0000-0000-000000000000"}),
        S("verify-no-otp", "POST", "ssh/verify", {}),
        S("creds-otp", "POST", "ssh/creds/otp", {"ip": "127.0.0.1"}),
        S("verify-issued-otp", "POST", "ssh/verify", {"otp": "{{creds-otp.data.key}}"}),
        S("verify-issued-otp-again", "POST", "ssh/verify", {"otp": "{{creds-otp.data.key}}"}),
        # Unauthenticated.
        S("unauth-public-key-ssh", "GET", "ssh/public_key", token=None),
        S("unauth-public-key-host", "GET", "ssh_host/public_key", token=None),
        S("unauth-public-key-rsa", "GET", "ssh_rsa/public_key", token=None),
        S("unauth-public-key-imp", "GET", "ssh_imp/public_key", token=None),
        S("unauth-config-ca", "GET", "ssh/config/ca", token=None),
        S("unauth-role-read", "GET", "ssh/roles/user", token=None),
        S("unauth-sign", "POST", "ssh/sign/user", {"public_key": ed_public}, token=None),
    ]


# family -> (steps, starts a dev server); steps may be a function that makes them
# when the family is recorded.
FAMILIES = {
    "sys": (SYS, True),
    "init": (INIT, False),
    "token": (TOKEN, True),
    "transit": (TRANSIT, True),
    "auth": (AUTH, True),
    "wrapping": (WRAPPING, True),
    "cubbyhole": (CUBBYHOLE, True),
    "batch": (BATCH, True),
    "token-roles": (ROLES, True),
    "pki": (pki_steps, True),
    "ssh": (ssh_steps, True),
}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lookup(results, ref):
    """Resolves `name.a.b.0` against the recorded responses."""
    name, _, rest = ref.partition(".")
    if name not in results:
        raise KeyError(f"placeholder {{{{{ref}}}}} names no earlier step")
    value = results[name]
    for part in rest.split(".") if rest else []:
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value[part]
        else:
            raise KeyError(f"placeholder {{{{{ref}}}}}: {part!r} not found")
    return value


def substitute(value, results):
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return lookup(results, whole.group(1))
        return PLACEHOLDER.sub(lambda m: str(lookup(results, m.group(1))), value)
    if isinstance(value, list):
        return [substitute(v, results) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, results) for k, v in value.items()}
    return value


def scrub(value, vary):
    """The response as stored: every `vary` path's value replaced by "<varies>", so that
    nothing random or host-specific (keys, host facts) lands in the fixture."""
    value = json.loads(json.dumps(value))
    for path in vary:
        _scrub(value, path.split("."))
    return value


def _scrub(node, parts):
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        keys = list(range(len(node))) if head == "*" else [int(head)] if head.isdigit() and int(head) < len(node) else []
    else:
        keys = []
    for k in keys:
        if rest:
            _scrub(node[k], rest)
        else:
            node[k] = "<varies>"


NON_JSON = "<non-json>"
NON_JSON_BASE64 = "<non-json-base64>"

PEM_BLOCK = re.compile(r"-----BEGIN ([^-\r\n]+)-----.*?-----END \1-----", re.DOTALL)
SERIAL = re.compile(r"(?:[0-9a-f]{2}:){3,}[0-9a-f]{2}|(?:[0-9a-f]{2}-){3,}[0-9a-f]{2}")
BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
# Numbers that are instants (Unix seconds) in PKI answers.
TIME_NUMBER_KEYS = {"expiration", "revocation_time", "not_before"}
# An OpenSSH public key or certificate in authorized_keys form: `<name> <base64 blob>`.
SSH_KEY = re.compile(r"([a-z0-9][a-z0-9.@-]*) (AAAA[A-Za-z0-9+/]*={0,2})")
SSH_CERT_SUFFIX = "-cert-v01@openssh.com"
# Keys whose value, a string of lowercase hex digits, is a serial number (the SSH engine's
# `serial_number`: the certificate's 64-bit serial in hex, no leading zeros).
HEX_SERIAL_KEYS = {"serial_number"}
HEX_SERIAL = re.compile(r"[0-9a-f]+")


def ssh_placeholder(match):
    """`<ssh-key:NAME>` or `<ssh-cert:NAME>` (NAME without `-cert-v01@openssh.com`) for an
    OpenSSH key or certificate whose blob names the same algorithm as its text does (the
    blob's first field, a length-prefixed string); None for anything else."""
    name, blob = match.group(1), match.group(2)
    if len(blob) % 4:
        return None
    try:
        data = base64.b64decode(blob, validate=True)
    except ValueError:
        return None
    size = int.from_bytes(data[:4], "big")
    if len(data) < 4 + size or data[4:4 + size] != name.encode("ascii"):
        return None
    if name.endswith(SSH_CERT_SUFFIX) and len(name) > len(SSH_CERT_SUFFIX):
        return f"<ssh-cert:{name[:-len(SSH_CERT_SUFFIX)]}>"
    return f"<ssh-key:{name}>"


def normalise_ssh(s):
    """A string that is one OpenSSH key or certificate (with an optional comment and
    surrounding whitespace, such as a trailing newline) becomes its placeholder; in any other
    string each one is replaced where it stands. None when there is none."""
    whole = re.fullmatch(r"\s*" + SSH_KEY.pattern + r"(?: [^\r\n]*)?\s*", s)
    if whole:
        placeholder = ssh_placeholder(whole)
        if placeholder:
            return placeholder
    found = False

    def replace(match):
        nonlocal found
        placeholder = ssh_placeholder(match)
        if placeholder is None:
            return match.group(0)
        found = True
        return placeholder

    out = SSH_KEY.sub(replace, s)
    return out if found else None


def is_der_sequence(data):
    """Whether `data` is exactly one DER SEQUENCE (a certificate, CRL, key, CSR)."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        return len(data) == 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return False
    return len(data) == 2 + count + int.from_bytes(data[2:2 + count], "big")


def normalise_string(s):
    blocks = PEM_BLOCK.findall(s)
    if blocks:
        if not PEM_BLOCK.sub("", s).strip():
            return "\n".join(f"<pem:{label}>" for label in blocks)
        return PEM_BLOCK.sub(lambda m: f"<pem:{m.group(1)}>", s)
    ssh = normalise_ssh(s)
    if ssh is not None:
        return ssh
    if SERIAL.fullmatch(s):
        return "<serial>"
    if RFC3339.fullmatch(s):
        return "<time>"
    if len(s) >= 64 and len(s) % 4 == 0 and BASE64.fullmatch(s):
        if is_der_sequence(base64.b64decode(s)):
            return "<der>"
    return s


def normalise(value, key=None):
    """The response as written: PEM blocks, OpenSSH keys and certificates, serial numbers,
    RFC 3339 times, PKI instants and base64 DER replaced by their placeholders (README.md, Normalisation: the replay applies
    the same rules to its own answer). Placeholders of later steps resolve against the raw
    answer, which is kept apart."""
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    if isinstance(value, str):
        if key in HEX_SERIAL_KEYS and HEX_SERIAL.fullmatch(value):
            return "<serial>"
        return normalise_string(value)
    if (key in TIME_NUMBER_KEYS and isinstance(value, (int, float))
            and not isinstance(value, bool) and value != 0):
        return "<time>"
    return value


def call(addr, step, results):
    path = substitute(step["path"], results)
    url = addr + path
    if step["query"]:
        url += "?" + urllib.parse.urlencode(step["query"])
    headers = substitute(step["headers"], results)
    data = None
    if "raw_body" in step:
        data = step["raw_body"].encode("utf-8")
    elif step["body"] is not None:
        data = json.dumps(substitute(step["body"], results)).encode("utf-8")
    if data is not None:
        headers["Content-Type"] = (
            "application/merge-patch+json" if step["method"] == "PATCH" else "application/json")
    req = urllib.request.Request(url, data=data, headers=headers, method=step["method"])
    try:
        with _OPENER.open(req, timeout=REQUEST_TIMEOUT_S) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
    except urllib.error.HTTPError as err:
        status, raw, ctype = err.code, err.read(), err.headers.get("Content-Type")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        # Binary (a DER certificate or CRL): kept whole, as base64.
        return status, {NON_JSON_BASE64: base64.b64encode(raw).decode("ascii")}, ctype
    try:
        body = json.loads(text) if text else None
    except json.JSONDecodeError:
        body = {NON_JSON: text}
    return status, body, ctype


def health_up(addr):
    try:
        with _OPENER.open(addr + "/v1/sys/health", timeout=2) as resp:
            return resp.status in (200, 429, 472, 473, 501, 503)
    except urllib.error.HTTPError as err:
        return err.code in (429, 472, 473, 501, 503)
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def start_server(bao, port, dev, workdir):
    if dev:
        args = [bao, "server", "-dev", f"-dev-root-token-id={ROOT}",
                f"-dev-listen-address=127.0.0.1:{port}"]
    else:
        config = os.path.join(workdir, "config.hcl")
        with open(config, "w", encoding="utf-8") as f:
            f.write('storage "inmem" {}\n'
                    f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
                    'disable_mlock = true\n')
        args = [bao, "server", f"-config={config}"]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop_server(proc):
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def record_family(bao, family, steps, dev):
    if callable(steps):
        steps = steps()
    names = [s["name"] for s in steps]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise RuntimeError(f"{family}: duplicate step names {sorted(dupes)}")
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    out = []
    with tempfile.TemporaryDirectory() as workdir:
        proc = start_server(bao, port, dev, workdir)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not health_up(addr):
                if proc.poll() is not None:
                    raise RuntimeError(f"bao exited with {proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError("timed out waiting for bao")
                time.sleep(0.2)
            if dev:
                # Not recorded: wait until the dev server's KV v2 at secret/ has initialised.
                deadline = time.monotonic() + STARTUP_TIMEOUT_S
                probe = {"path": "/v1/secret/config", "query": {}, "headers": {"X-Vault-Token": ROOT},
                         "body": None, "method": "GET"}
                while call(addr, probe, {})[0] != 200:
                    if time.monotonic() > deadline:
                        raise RuntimeError("timed out waiting for secret/")
                    time.sleep(0.2)
            results = {}
            for i, step in enumerate(steps, start=1):
                status, resp, ctype = call(addr, step, results)
                results[step["name"]] = resp
                entry = {"step": i, **step, "status": status,
                         "response": normalise(scrub(resp, step.get("vary", [])))}
                if isinstance(resp, dict) and (NON_JSON in resp or NON_JSON_BASE64 in resp):
                    entry["content_type"] = ctype
                out.append(entry)
                print(f"{family:<11} {i:>3} {step['name']:<40} {step['method']:<6} {step['path']} -> {status}",
                      file=sys.stderr)
        finally:
            stop_server(proc)
    return out


def main(argv):
    bao = os.environ.get("BAO", "bao")
    wanted = argv or list(FAMILIES)
    os.makedirs(FIXTURES, exist_ok=True)
    total = 0
    for family in wanted:
        steps, dev = FAMILIES[family]
        recorded = record_family(bao, family, steps, dev)
        total += len(recorded)
        path = os.path.join(FIXTURES, f"{family}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"openbao_version": OPENBAO_VERSION, "family": family, "steps": recorded},
                      f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {len(recorded)} steps to {path}", file=sys.stderr)
    print(f"{total} steps in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
