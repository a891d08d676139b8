"""hvac 2.4.0 (the reference Vault client) against a running dev server: `strongroom server
-dev`, or OpenBao's `bao server -dev` (the same script passes against both, so it encodes
Vault's behaviour rather than ours).

Usage: python3 hvac_smoke.py http://127.0.0.1:PORT ROOT_TOKEN [POSTGRES_URL]
Exits non-zero with a message on the first difference from what hvac expects of Vault. With a
PostgreSQL URL, the database engine is checked too (dynamic credentials, revoked by lease; a
static role rotated on creation and on demand).
"""
import base64
import sys

import hvac

addr, token = sys.argv[1], sys.argv[2]
client = hvac.Client(url=addr, token=token)

assert client.is_authenticated(), "token not accepted"
assert client.sys.is_initialized()
assert not client.sys.is_sealed()

kv = client.secrets.kv.v2
created = kv.create_or_update_secret(path="myapp/db", secret={"user": "app", "pass": "p1"})
assert created["data"]["version"] == 1, created
kv.create_or_update_secret(path="myapp/db", secret={"user": "app", "pass": "p2"}, cas=1)
read = kv.read_secret_version(path="myapp/db", raise_on_deleted_version=True)
assert read["data"]["data"] == {"user": "app", "pass": "p2"}, read
assert read["data"]["metadata"]["version"] == 2, read
old = kv.read_secret_version(path="myapp/db", version=1, raise_on_deleted_version=True)
assert old["data"]["data"]["pass"] == "p1", old
kv.patch(path="myapp/db", secret={"pass": "p3"})
assert kv.read_secret_version(path="myapp/db", raise_on_deleted_version=True)["data"]["data"]["pass"] == "p3"
listed = kv.list_secrets(path="myapp")
assert listed["data"]["keys"] == ["db"], listed
kv.update_metadata(path="myapp/db", custom_metadata={"owner": "team-a"})
meta = kv.read_secret_metadata(path="myapp/db")
assert meta["data"]["custom_metadata"] == {"owner": "team-a"}, meta
assert meta["data"]["current_version"] == 3, meta
kv.delete_latest_version_of_secret(path="myapp/db")
try:
    kv.read_secret_version(path="myapp/db", raise_on_deleted_version=True)
    raise AssertionError("reading a deleted version must fail")
except hvac.exceptions.InvalidPath:
    pass
kv.undelete_secret_versions(path="myapp/db", versions=[3])
kv.destroy_secret_versions(path="myapp/db", versions=[1])
kv.delete_metadata_and_all_versions(path="myapp/db")
try:
    kv.read_secret_version(path="myapp/db", raise_on_deleted_version=True)
    raise AssertionError("reading a removed secret must fail")
except hvac.exceptions.InvalidPath:
    pass

# Policies and a limited token.
client.sys.create_or_update_policy(name="reader", policy='path "secret/data/shared/*" { capabilities = ["read"] }')
kv.create_or_update_secret(path="shared/cfg", secret={"a": "1"})
child = client.auth.token.create(policies=["reader"], ttl="1h")["auth"]["client_token"]
limited = hvac.Client(url=addr, token=child)
assert limited.secrets.kv.v2.read_secret_version(path="shared/cfg", raise_on_deleted_version=True)["data"]["data"] == {"a": "1"}
try:
    limited.secrets.kv.v2.create_or_update_secret(path="shared/cfg", secret={"a": "2"})
    raise AssertionError("a read-only token must not write")
except hvac.exceptions.Forbidden:
    pass
me = limited.auth.token.lookup_self()["data"]
assert "reader" in me["policies"], me
client.auth.token.revoke(child)
assert not limited.is_authenticated()

# Mounts.
client.sys.enable_secrets_engine(backend_type="kv", path="team", options={"version": "1"})
assert "team/" in client.sys.list_mounted_secrets_engines()["data"]
client.secrets.kv.v1.create_or_update_secret(path="x", secret={"v": "1"}, mount_point="team")
assert client.secrets.kv.v1.read_secret(path="x", mount_point="team")["data"] == {"v": "1"}
client.sys.disable_secrets_engine(path="team")

# Transit (neither dev mode mounts it).
assert "transit/" not in client.sys.list_mounted_secrets_engines()["data"]
client.sys.enable_secrets_engine(backend_type="transit", path="transit")
transit = client.secrets.transit


def b64(data):
    return base64.b64encode(data).decode()


transit.create_key(name="orders")
enc = transit.encrypt_data(name="orders", plaintext=b64(b"card 4111"))["data"]
assert enc["ciphertext"].startswith("vault:v1:"), enc
dec = transit.decrypt_data(name="orders", ciphertext=enc["ciphertext"])["data"]
assert base64.b64decode(dec["plaintext"]) == b"card 4111", dec
transit.rotate_key(name="orders")
assert transit.read_key(name="orders")["data"]["latest_version"] == 2
rewrapped = transit.rewrap_data(name="orders", ciphertext=enc["ciphertext"])["data"]
assert rewrapped["ciphertext"].startswith("vault:v2:"), rewrapped
batch = transit.encrypt_data(
    name="orders",
    batch_input=[{"plaintext": b64(b"a"), "reference": "one"}, {"plaintext": b64(b"b")}],
)["data"]["batch_results"]
assert [r["reference"] for r in batch] == ["one", ""], batch
datakey = transit.generate_data_key(name="orders", key_type="plaintext")["data"]
unwrapped = transit.decrypt_data(name="orders", ciphertext=datakey["ciphertext"])["data"]
assert unwrapped["plaintext"] == datakey["plaintext"]
transit.create_key(name="signer", key_type="ed25519")
signature = transit.sign_data(name="signer", hash_input=b64(b"payload"))["data"]["signature"]
assert transit.verify_signed_data(name="signer", hash_input=b64(b"payload"), signature=signature)["data"]["valid"]
assert not transit.verify_signed_data(name="signer", hash_input=b64(b"tampered"), signature=signature)["data"]["valid"]
transit.create_key(name="p256", key_type="ecdsa-p256")
jws = transit.sign_data(name="p256", hash_input=b64(b"h.p"), marshaling_algorithm="jws")["data"]["signature"]
assert transit.verify_signed_data(name="p256", hash_input=b64(b"h.p"), signature=jws, marshaling_algorithm="jws")["data"]["valid"]
mac = transit.generate_hmac(name="orders", hash_input=b64(b"msg"))["data"]["hmac"]
assert transit.verify_signed_data(name="orders", hash_input=b64(b"msg"), hmac=mac)["data"]["valid"]
try:
    transit.decrypt_data(name="orders", ciphertext="vault:v1:AAAA")
    raise AssertionError("a bad ciphertext must fail")
except hvac.exceptions.InvalidRequest:
    pass
# Auth methods: userpass and approle logins, and the tokens they give.
client.sys.enable_auth_method(method_type="userpass")
client.auth.userpass.create_or_update_user(
    username="alice", password="pw-alice", policies=["reader"], token_ttl="1h"
)
alice = hvac.Client(url=addr)
login = alice.auth.userpass.login(username="alice", password="pw-alice")["auth"]
assert sorted(login["policies"]) == ["default", "reader"], login
assert login["token_policies"] == login["policies"], login
assert login["lease_duration"] == 3600 and login["renewable"] is True, login
assert login["metadata"] == {"username": "alice"}, login
assert alice.token == login["client_token"] and alice.is_authenticated()
me = alice.auth.token.lookup_self()["data"]
assert me["display_name"] == "userpass-alice", me
assert sorted(me["policies"]) == ["default", "reader"], me
for user, password in (("alice", "wrong"), ("nobody", "pw-alice")):
    try:
        hvac.Client(url=addr).auth.userpass.login(username=user, password=password)
        raise AssertionError("a bad userpass login must fail")
    except hvac.exceptions.InvalidRequest:
        pass
# Token CIDR bounds hold against the client's real address (loopback here).
for user, cidr in (("near", "127.0.0.0/8"), ("far", "10.0.0.0/8")):
    client.auth.userpass.create_or_update_user(
        username=user, password="pw", policies=["reader"], token_bound_cidrs=[cidr]
    )
near = hvac.Client(url=addr)
near.auth.userpass.login(username="near", password="pw")
assert near.auth.token.lookup_self()["data"]["display_name"] == "userpass-near"
try:
    hvac.Client(url=addr).auth.userpass.login(username="far", password="pw")
    raise AssertionError("a login whose token is bound to 10.0.0.0/8 must fail from loopback")
except hvac.exceptions.Forbidden:
    pass
client.sys.enable_auth_method(method_type="approle")
approle = client.auth.approle
approle.create_or_update_approle(
    role_name="app", token_policies=["app"], token_ttl="30m", secret_id_num_uses=1
)
role_id = approle.read_role_id(role_name="app")["data"]["role_id"]
secret = approle.generate_secret_id(role_name="app")["data"]
assert secret["secret_id"] and secret["secret_id_accessor"], secret
machine = hvac.Client(url=addr)
login = machine.auth.approle.login(role_id=role_id, secret_id=secret["secret_id"])["auth"]
assert sorted(login["policies"]) == ["app", "default"], login
assert login["lease_duration"] == 1800, login
assert login["metadata"] == {"role_name": "app"}, login
assert machine.auth.token.lookup_self()["data"]["display_name"] == "approle"
try:
    hvac.Client(url=addr).auth.approle.login(role_id=role_id, secret_id=secret["secret_id"])
    raise AssertionError("a used-up secret id must fail")
except hvac.exceptions.InvalidRequest:
    pass
# Response wrapping: a wrapped secret id, token and KV read, each unwrapped once; the cubbyhole.
wrapped = approle.generate_secret_id(role_name="app", wrap_ttl="1m")["wrap_info"]
assert wrapped["creation_path"] == "auth/approle/role/app/secret-id", wrapped
assert wrapped["ttl"] == 60 and wrapped["wrapped_accessor"], wrapped
unwrapped = client.sys.unwrap(wrapped["token"])["data"]
assert unwrapped["secret_id_accessor"] == wrapped["wrapped_accessor"], unwrapped
login = machine.auth.approle.login(role_id=role_id, secret_id=unwrapped["secret_id"])["auth"]
assert login["client_token"], login
try:
    client.sys.unwrap(wrapped["token"])
    raise AssertionError("a wrapping token unwraps once")
except hvac.exceptions.InvalidRequest as err:
    assert "wrapping token is not valid or does not exist" in str(err), err
wrapped = client.auth.token.create(policies=["app"], ttl="1h", wrap_ttl="2m")["wrap_info"]
child = hvac.Client(url=addr, token=wrapped["token"]).sys.unwrap()["auth"]
assert child["accessor"] == wrapped["wrapped_accessor"], (child, wrapped)
assert hvac.Client(url=addr, token=child["client_token"]).is_authenticated()
kv.create_or_update_secret(path="wrapped", secret={"k": "v"})
wrapped = client.adapter.get("/v1/secret/data/wrapped", wrap_ttl="30s")["wrap_info"]
assert wrapped["creation_path"] == "secret/data/wrapped", wrapped
assert hvac.Client(url=addr, token=wrapped["token"]).sys.unwrap()["data"]["data"] == {"k": "v"}
client.write("cubbyhole/hvac", note="mine")
assert client.read("cubbyhole/hvac")["data"] == {"note": "mine"}
assert hvac.Client(url=addr, token=child["client_token"]).read("cubbyhole/hvac") is None

# Dynamic database credentials (with a PostgreSQL URL).
if len(sys.argv) > 3:
    pg_url = sys.argv[3]
    if "database/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine(backend_type="database", path="database")
    db = client.secrets.database
    db.configure(
        name="pg",
        plugin_name="postgresql-database-plugin",
        connection_url=pg_url,
        allowed_roles=["hvac-app", "hvac-static"],
    )
    db.create_role(
        name="hvac-app",
        db_name="pg",
        creation_statements=[
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
        ],
        default_ttl="1h",
        max_ttl="24h",
    )
    creds = db.generate_credentials(name="hvac-app")
    assert creds["data"]["username"] and creds["data"]["password"], creds
    assert creds["lease_id"].startswith("database/creds/hvac-app/"), creds["lease_id"]
    assert creds["lease_duration"] == 3600, creds["lease_duration"]
    assert creds["renewable"] is True
    # A static role over the user just issued: rotated on creation and on demand.
    user = creds["data"]["username"]
    db.create_static_role(
        name="hvac-static",
        db_name="pg",
        username=user,
        rotation_statements=["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"],
        rotation_period=3600,
    )
    static = db.get_static_credentials(name="hvac-static")["data"]
    assert static["username"] == user, static
    assert static["password"] != creds["data"]["password"]
    assert static["rotation_period"] == 3600 and 0 < static["ttl"] <= 3600, static
    assert static["last_vault_rotation"], static
    db.rotate_static_role_credentials(name="hvac-static")
    rotated = db.get_static_credentials(name="hvac-static")["data"]
    assert rotated["password"] != static["password"]
    role = db.read_static_role(name="hvac-static")["data"]
    assert role["username"] == user and role["db_name"] == "pg", role
    assert role["credential_type"] == "password", role
    assert "hvac-static" in db.list_static_roles()["data"]["keys"]
    db.delete_static_role(name="hvac-static")
    client.sys.revoke_lease(lease_id=creds["lease_id"])
    db.delete_role(name="hvac-app")

print("hvac smoke: all checks passed")
