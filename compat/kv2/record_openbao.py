#!/usr/bin/env python3
"""Record reference KV v2 HTTP responses from a real OpenBao dev server.

Starts `bao server -dev` on a free loopback port with a random root token,
runs a fixed sequence of KV version 2 calls against the engine mounted at
`secret/`, and writes every request/response pair to
`compat/kv2/fixtures/openbao-<version>.json` (next to this script).

Usage (from the repository root):

    python3 compat/kv2/record_openbao.py

Only the Python standard library is used. `bao` must be on PATH (or set the
BAO environment variable to the binary to use).
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

OPENBAO_VERSION = "2.7.2"
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", f"openbao-{OPENBAO_VERSION}.json")
STARTUP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 10.0

# (name, method, path under /v1/, query, body)
SEQUENCE = [
    ("config-write", "POST", "secret/config",
     {}, {"max_versions": 5, "cas_required": False, "delete_version_after": "0s"}),
    ("config-read", "GET", "secret/config", {}, None),
    ("write-v1", "POST", "secret/data/app", {}, {"data": {"user": "u1", "pass": "p1"}}),
    ("read-latest-v1", "GET", "secret/data/app", {}, None),
    ("write-v2-cas", "POST", "secret/data/app", {}, {"options": {"cas": 1}, "data": {"user": "u2"}}),
    ("write-cas-mismatch", "POST", "secret/data/app", {}, {"options": {"cas": 1}, "data": {"x": 1}}),
    ("patch-v3", "PATCH", "secret/data/app", {}, {"data": {"pass": "p3"}}),
    ("read-version-1", "GET", "secret/data/app", {"version": "1"}, None),
    ("read-version-99", "GET", "secret/data/app", {"version": "99"}, None),
    ("delete-v3", "POST", "secret/delete/app", {}, {"versions": [3]}),
    ("read-latest-deleted", "GET", "secret/data/app", {}, None),
    ("undelete-v3", "POST", "secret/undelete/app", {}, {"versions": [3]}),
    ("read-latest-undeleted", "GET", "secret/data/app", {}, None),
    ("destroy-v2", "POST", "secret/destroy/app", {}, {"versions": [2]}),
    ("read-version-2-destroyed", "GET", "secret/data/app", {"version": "2"}, None),
    ("metadata-read", "GET", "secret/metadata/app", {}, None),
    ("metadata-write", "POST", "secret/metadata/app",
     {}, {"max_versions": 2, "custom_metadata": {"owner": "team-a"}}),
    ("write-v4-prunes", "POST", "secret/data/app", {}, {"data": {"v": 4}}),
    ("metadata-read-after-prune", "GET", "secret/metadata/app", {}, None),
    ("metadata-patch", "PATCH", "secret/metadata/app", {}, {"custom_metadata": {"env": "prod"}}),
    ("metadata-read-after-patch", "GET", "secret/metadata/app", {}, None),
    ("subkeys", "GET", "secret/subkeys/app", {}, None),
    ("write-nested", "POST", "secret/data/dir/one", {}, {"data": {"a": {"b": 1}}}),
    ("list-root", "LIST", "secret/metadata/", {}, None),
    ("list-dir", "LIST", "secret/metadata/dir", {}, None),
    ("cas-required-meta", "POST", "secret/metadata/strict", {}, {"cas_required": True}),
    ("cas-required-missing", "POST", "secret/data/strict", {}, {"data": {"a": 1}}),
    ("cas-required-zero", "POST", "secret/data/strict", {}, {"options": {"cas": 0}, "data": {"a": 1}}),
    ("data-not-object", "POST", "secret/data/app", {}, {"data": "not an object"}),
    ("version-not-number", "GET", "secret/data/app", {"version": "abc"}, None),
    ("delete-latest", "DELETE", "secret/data/app", {}, None),
    ("read-after-delete-latest", "GET", "secret/data/app", {}, None),
    ("metadata-delete", "DELETE", "secret/metadata/app", {}, None),
    ("read-after-metadata-delete", "GET", "secret/data/app", {}, None),
    ("read-missing", "GET", "secret/data/missing", {}, None),
    ("subkeys-nested-depth", "GET", "secret/subkeys/dir/one", {"depth": "1"}, None),
    ("undelete-missing-versions-field", "POST", "secret/undelete/dir/one", {}, {}),
    ("write-empty-data", "POST", "secret/data/empty", {}, {"data": {}}),
    ("read-empty", "GET", "secret/data/empty", {}, None),
]

# Never route loopback traffic through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, addr, token):
        self.addr = addr
        self.token = token

    def call(self, method, path, query=None, body=None, token=True):
        """Return (status, parsed JSON body or None if the body is empty)."""
        url = f"{self.addr}/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {}
        if token:
            headers["X-Vault-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = (
                "application/merge-patch+json" if method == "PATCH" else "application/json"
            )
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with _OPENER.open(req, timeout=REQUEST_TIMEOUT_S) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        raw = raw.decode("utf-8").strip()
        return status, (json.loads(raw) if raw else None)


def wait_until(pred, what, proc, timeout=STARTUP_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bao server exited with code {proc.returncode} while waiting for {what}")
        try:
            if pred():
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def kv2_mounted_at_secret(client):
    status, body = client.call("GET", "sys/mounts")
    if status != 200 or not body:
        raise RuntimeError(f"GET /v1/sys/mounts returned {status}: {body}")
    mounts = body.get("data", body)
    m = mounts.get("secret/")
    return bool(m) and m.get("type") == "kv" and (m.get("options") or {}).get("version") == "2"


def record(client, step, name, method, path, query, body):
    status, resp = client.call(method, path, query, body)
    print(f"{step:>2} {name:<34} {method:<6} /v1/{path} -> {status}", file=sys.stderr)
    return {
        "step": step,
        "name": name,
        "method": method,
        "path": f"/v1/{path}",
        "query": dict(query),
        "body": body,
        "status": status,
        "response": resp,
    }


def main():
    bao = os.environ.get("BAO", "bao")
    token = "root-" + secrets.token_hex(12)
    port = free_port()
    client = Client(f"http://127.0.0.1:{port}", token)

    proc = subprocess.Popen(
        [bao, "server", "-dev",
         f"-dev-root-token-id={token}",
         f"-dev-listen-address=127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # own process group, so cleanup reaches any child
    )
    steps = []
    try:
        wait_until(lambda: client.call("GET", "sys/health", token=False)[0] == 200,
                   "GET /v1/sys/health == 200", proc)

        if not kv2_mounted_at_secret(client):
            existing = client.call("GET", "sys/mounts")[1]
            if "secret/" in existing.get("data", existing):
                client.call("DELETE", "sys/mounts/secret")
            steps.append(record(client, 0, "mount-kv2", "POST", "sys/mounts/secret", {},
                                {"type": "kv", "options": {"version": "2"}}))
            if not kv2_mounted_at_secret(client):
                raise RuntimeError("failed to mount KV v2 at secret/")

        # Not recorded: make sure the KV v2 backend has finished initialising
        # (a fresh mount briefly answers with an "upgrading" error).
        wait_until(lambda: client.call("GET", "secret/config")[0] == 200,
                   "GET /v1/secret/config == 200", proc)

        for i, (name, method, path, query, body) in enumerate(SEQUENCE, start=1):
            steps.append(record(client, i, name, method, path, query, body))
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)

    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    with open(FIXTURE, "w", encoding="utf-8") as f:
        json.dump(steps, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(steps)} steps to {FIXTURE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
