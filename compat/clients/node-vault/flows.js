'use strict';
// node-vault 0.12.0 (a Vault client nobody here wrote) against a running dev server:
// `strongroom server -dev` or OpenBao's `bao server -dev`. The same script passes against
// both, so it encodes Vault's behaviour as this client sees it, not ours.
//
// Usage: node flows.js http://127.0.0.1:PORT ROOT_TOKEN
// With WRAPPING=1 it also runs the response-wrapping flows (X-Vault-Wrap-TTL, unwrap, lookup,
// rewrap, wrap). Exits non-zero with the failing step on the first difference.
//
// node-vault quirk worth knowing: every call marked `tokenSource` in its commands.js
// (tokenCreate, tokenRenew, approleLogin, ...) replaces the client's token with the one in the
// answer. The flows below use one client per identity for that reason.

const assert = require('node:assert/strict');
const nodeVault = require('node-vault');

const [endpoint, rootToken] = process.argv.slice(2);
if (!endpoint || !rootToken) {
    console.error('usage: node flows.js http://127.0.0.1:PORT ROOT_TOKEN');
    process.exit(2);
}
const wrapping = process.env.WRAPPING === '1';

/** A fresh client holding `token`. */
function as(token) {
    return nodeVault({ apiVersion: 'v1', endpoint, token });
}

/** Runs `promise`, which must fail with HTTP `status`; returns the error. */
async function refused(promise, status, contains) {
    let error;
    try {
        await promise;
    } catch (e) {
        error = e;
    }
    assert.ok(error, `expected HTTP ${status}, got success`);
    assert.ok(error.response, `expected an HTTP answer, got ${error}`);
    assert.equal(error.response.statusCode, status, JSON.stringify(error.response.body));
    if (contains !== undefined) {
        const errors = (error.response.body && error.response.body.errors) || [];
        assert.ok(
            errors.some((m) => m.includes(contains)),
            `expected an error containing ${JSON.stringify(contains)}, got ${JSON.stringify(errors)}`,
        );
    }
    return error;
}

/** A fresh header object each call: node-vault writes X-Vault-Token into the one it is given. */
function wrapTtl(ttl) {
    return { headers: { 'X-Vault-Wrap-TTL': ttl } };
}

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64').toString('utf8');

async function kv2(root) {
    const created = await root.write('secret/data/node/app', { data: { user: 'u1', pass: 'p1' } });
    assert.equal(created.data.version, 1);
    assert.equal(created.data.destroyed, false);
    assert.equal(created.data.deletion_time, '');
    assert.match(created.data.created_time, /^\d{4}-\d\d-\d\dT/);

    const second = await root.write('secret/data/node/app', {
        options: { cas: 1 },
        data: { user: 'u1', pass: 'p2' },
    });
    assert.equal(second.data.version, 2);
    await refused(
        root.write('secret/data/node/app', { options: { cas: 1 }, data: { pass: 'late' } }),
        400,
        'check-and-set parameter did not match the current version',
    );

    const latest = await root.read('secret/data/node/app');
    assert.deepEqual(latest.data.data, { user: 'u1', pass: 'p2' });
    assert.equal(latest.data.metadata.version, 2);
    const first = await root.read('secret/data/node/app?version=1');
    assert.deepEqual(first.data.data, { user: 'u1', pass: 'p1' });
    assert.equal(first.data.metadata.version, 1);

    // node-vault's update() is a JSON merge patch (it sends application/merge-patch+json).
    const patched = await root.update('secret/data/node/app', { data: { pass: 'p3' } });
    assert.equal(patched.data.version, 3);
    assert.deepEqual((await root.read('secret/data/node/app')).data.data, { user: 'u1', pass: 'p3' });

    await root.write('secret/data/node/other', { data: { x: '1' } });
    const listed = await root.list('secret/metadata/node');
    assert.deepEqual(listed.data.keys, ['app', 'other']);

    await root.write('secret/metadata/node/app', { custom_metadata: { owner: 'team-a' }, max_versions: 5 });
    let meta = await root.read('secret/metadata/node/app');
    assert.equal(meta.data.current_version, 3);
    assert.equal(meta.data.oldest_version, 0);
    assert.equal(meta.data.max_versions, 5);
    assert.deepEqual(meta.data.custom_metadata, { owner: 'team-a' });
    assert.deepEqual(Object.keys(meta.data.versions).sort(), ['1', '2', '3']);

    // DELETE data/ soft-deletes the latest version; reading it is a 404.
    await root.delete('secret/data/node/app');
    await refused(root.read('secret/data/node/app'), 404);
    meta = await root.read('secret/metadata/node/app');
    assert.notEqual(meta.data.versions['3'].deletion_time, '');
    await root.write('secret/undelete/node/app', { versions: [3] });
    assert.equal((await root.read('secret/data/node/app')).data.data.pass, 'p3');

    await root.write('secret/delete/node/app', { versions: [1] });
    await refused(root.read('secret/data/node/app?version=1'), 404);
    await root.destroySecretVersions({ mount_point: 'secret', path: 'node/app', versions: [2] });
    meta = await root.read('secret/metadata/node/app');
    assert.notEqual(meta.data.versions['1'].deletion_time, '');
    assert.equal(meta.data.versions['1'].destroyed, false);
    assert.equal(meta.data.versions['2'].destroyed, true);
    assert.equal(meta.data.versions['3'].deletion_time, '');
    await refused(root.read('secret/data/node/app?version=2'), 404);

    await root.delete('secret/metadata/node/app');
    await refused(root.read('secret/metadata/node/app'), 404);
    await refused(root.read('secret/data/node/app'), 404);
    assert.deepEqual((await root.list('secret/metadata/node')).data.keys, ['other']);
}

async function transit(root) {
    await root.mount({ mount_point: 'transit', type: 'transit' });
    const mounts = await root.mounts();
    assert.equal(mounts['transit/'].type, 'transit');

    await root.transitCreateKey({ name: 'nk' });
    let key = await root.transitReadKey({ name: 'nk' });
    assert.equal(key.data.name, 'nk');
    assert.equal(key.data.type, 'aes256-gcm96');
    assert.equal(key.data.latest_version, 1);
    assert.equal(key.data.deletion_allowed, false);
    assert.deepEqual(Object.keys(key.data.keys), ['1']);
    assert.ok((await root.transitListKeys()).data.keys.includes('nk'));

    const plaintext = b64('attack at dawn');
    const enc = await root.encryptData({ name: 'nk', plaintext });
    assert.match(enc.data.ciphertext, /^vault:v1:/);
    assert.equal(enc.data.key_version, 1);
    const dec = await root.decryptData({ name: 'nk', ciphertext: enc.data.ciphertext });
    assert.equal(unb64(dec.data.plaintext), 'attack at dawn');

    // A tampered ciphertext is refused, and says nothing about why.
    const body = enc.data.ciphertext.slice('vault:v1:'.length);
    const flipped = Buffer.from(body, 'base64');
    flipped[flipped.length - 1] ^= 1;
    await refused(
        root.decryptData({ name: 'nk', ciphertext: `vault:v1:${flipped.toString('base64')}` }),
        400,
    );

    await root.write('transit/keys/nk/rotate', {});
    key = await root.transitReadKey({ name: 'nk' });
    assert.equal(key.data.latest_version, 2);
    assert.deepEqual(Object.keys(key.data.keys).sort(), ['1', '2']);

    const rewrapped = await root.rewrapData({ name: 'nk', ciphertext: enc.data.ciphertext });
    assert.match(rewrapped.data.ciphertext, /^vault:v2:/);
    assert.equal(rewrapped.data.key_version, 2);
    const again = await root.decryptData({ name: 'nk', ciphertext: rewrapped.data.ciphertext });
    assert.equal(again.data.plaintext, plaintext);
    // The old version still decrypts until min_decryption_version moves past it.
    assert.equal((await root.decryptData({ name: 'nk', ciphertext: enc.data.ciphertext })).data.plaintext, plaintext);
    await root.write('transit/keys/nk/config', { min_decryption_version: 2 });
    await refused(root.decryptData({ name: 'nk', ciphertext: enc.data.ciphertext }), 400);

    // Deleting needs deletion_allowed first.
    await refused(root.transitDeleteKey({ name: 'nk' }), 400, 'deletion is not allowed for this key');
    await root.write('transit/keys/nk/config', { deletion_allowed: true });
    await root.transitDeleteKey({ name: 'nk' });
    await refused(root.transitReadKey({ name: 'nk' }), 404);
}

async function tokens(root) {
    // A dev server with a chosen root token id has that one token and no other.
    const accessors = (await root.tokenAccessors()).data.keys;
    assert.equal(accessors.length, 1, JSON.stringify(accessors));
    const only = await root.tokenLookupAccessor({ accessor: accessors[0] });
    assert.deepEqual(only.data.policies, ['root']);
    assert.equal((await root.tokenLookupSelf()).data.accessor, accessors[0]);

    // Each tokenCreate/tokenRenew gets its own client: node-vault takes the answer's token.
    await root.addPolicy({ name: 'node-creator', rules: 'path "auth/token/create" { capabilities = ["update"] }' });
    const creator = as(rootToken);
    const made = await creator.tokenCreate({
        policies: ['default', 'node-creator'],
        ttl: '1h',
        renewable: true,
        meta: { app: 'node' },
        display_name: 'node',
    });
    const child = made.auth.client_token;
    assert.equal(creator.token, child, 'node-vault adopts the created token');
    assert.deepEqual(made.auth.policies, ['default', 'node-creator']);
    assert.deepEqual(made.auth.token_policies, ['default', 'node-creator']);
    assert.deepEqual(made.auth.metadata, { app: 'node' });
    assert.equal(made.auth.lease_duration, 3600);
    assert.equal(made.auth.renewable, true);
    assert.equal(made.auth.orphan, false);
    assert.equal(made.auth.token_type, 'service');
    assert.ok(made.auth.accessor);

    const looked = await root.tokenLookup({ token: child });
    assert.equal(looked.data.id, child);
    assert.equal(looked.data.accessor, made.auth.accessor);
    assert.equal(looked.data.display_name, 'token-node');
    assert.deepEqual(looked.data.policies, ['default', 'node-creator']);
    assert.deepEqual(looked.data.meta, { app: 'node' });
    assert.equal(looked.data.path, 'auth/token/create');
    assert.equal(looked.data.renewable, true);
    assert.equal(looked.data.creation_ttl, 3600);
    assert.ok(looked.data.ttl > 3500 && looked.data.ttl <= 3600, `ttl ${looked.data.ttl}`);

    const byAccessor = await root.tokenLookupAccessor({ accessor: made.auth.accessor });
    assert.equal(byAccessor.data.id, '', 'a lookup by accessor does not tell the token');
    assert.equal(byAccessor.data.accessor, made.auth.accessor);
    assert.equal(byAccessor.data.display_name, 'token-node');

    const self = await as(child).tokenLookupSelf();
    assert.equal(self.data.id, child);

    const renewer = as(rootToken);
    const renewed = await renewer.tokenRenew({ token: child, increment: '2h' });
    assert.equal(renewed.auth.client_token, child);
    assert.equal(renewed.auth.lease_duration, 7200);
    assert.equal(renewed.auth.renewable, true);
    const childClient = as(child);
    const selfRenewed = await childClient.tokenRenewSelf({ increment: 1800 });
    assert.equal(selfRenewed.auth.client_token, child);
    assert.equal(selfRenewed.auth.lease_duration, 1800);
    const afterRenew = await root.tokenLookup({ token: child });
    assert.ok(afterRenew.data.ttl > 1700 && afterRenew.data.ttl <= 1800, `ttl ${afterRenew.data.ttl}`);

    // A child of the child dies with its parent; an orphan does not.
    const grandchild = (await as(child).tokenCreate({ policies: ['default'], ttl: '30m' })).auth.client_token;
    const orphan = (await as(rootToken).tokenCreateOrphan({ policies: ['default'], ttl: '30m' })).auth;
    assert.equal(orphan.orphan, true);
    await root.tokenRevoke({ token: child });
    await refused(as(child).tokenLookupSelf(), 403, 'permission denied');
    await refused(as(grandchild).tokenLookupSelf(), 403, 'permission denied');
    assert.equal((await as(orphan.client_token).tokenLookupSelf()).data.orphan, true);

    // revoke-orphan keeps the children, now orphans.
    const parent = (await as(rootToken).tokenCreate({ policies: ['node-creator'], ttl: '1h' })).auth.client_token;
    const kept = (await as(parent).tokenCreate({ policies: ['default'], ttl: '1h' })).auth.client_token;
    await root.tokenRevokeOrphan({ token: parent });
    await refused(as(parent).tokenLookupSelf(), 403);
    assert.equal((await as(kept).tokenLookupSelf()).data.orphan, true);

    // revoke-accessor and revoke-self.
    await root.tokenRevokeAccessor({ accessor: orphan.accessor });
    await refused(as(orphan.client_token).tokenLookupSelf(), 403);
    await as(kept).tokenRevokeSelf();
    await refused(as(kept).tokenLookupSelf(), 403);

    // A token limited by a policy: reads what it grants, nothing else.
    await root.addPolicy({ name: 'node-reader', rules: 'path "secret/data/node/*" { capabilities = ["read"] }' });
    const reader = (await as(rootToken).tokenCreate({ policies: ['node-reader'], ttl: '10m' })).auth;
    assert.deepEqual(reader.policies, ['default', 'node-reader']);
    assert.deepEqual((await as(reader.client_token).read('secret/data/node/other')).data.data, { x: '1' });
    await refused(as(reader.client_token).write('secret/data/node/other', { data: { x: '2' } }), 403, 'permission denied');
    await refused(as(reader.client_token).read('secret/data/elsewhere'), 403, 'permission denied');
}

async function approle(root) {
    await root.enableAuth({ mount_point: 'approle', type: 'approle' });
    const auths = await root.auths();
    assert.equal(auths['approle/'].type, 'approle');

    await root.addPolicy({
        name: 'node-app',
        rules: 'path "secret/data/node/app-*" { capabilities = ["create", "read", "update"] }',
    });
    await root.addApproleRole({
        role_name: 'web',
        policies: 'node-app',
        token_ttl: 600,
        token_max_ttl: 1200,
        secret_id_ttl: 3600,
        secret_id_num_uses: 3,
    });
    const role = await root.getApproleRole({ role_name: 'web' });
    assert.deepEqual(role.data.token_policies, ['node-app']);
    assert.equal(role.data.token_ttl, 600);
    assert.equal(role.data.token_max_ttl, 1200);
    assert.equal(role.data.secret_id_ttl, 3600);
    assert.equal(role.data.secret_id_num_uses, 3);
    assert.equal(role.data.bind_secret_id, true);
    assert.deepEqual((await root.approleRoles()).data.keys, ['web']);

    const roleId = (await root.getApproleRoleId({ role_name: 'web' })).data.role_id;
    assert.match(roleId, /^[0-9a-f-]{36}$/);
    const secret = (await root.getApproleRoleSecret({ role_name: 'web', metadata: '{"team":"node"}' })).data;
    assert.ok(secret.secret_id && secret.secret_id_accessor);
    assert.equal(secret.secret_id_ttl, 3600);
    assert.equal(secret.secret_id_num_uses, 3);
    assert.deepEqual((await root.approleSecretAccessors({ role_name: 'web' })).data.keys, [secret.secret_id_accessor]);
    const lookup = await root.approleSecretLookup({ role_name: 'web', secret_id: secret.secret_id });
    assert.equal(lookup.data.secret_id_accessor, secret.secret_id_accessor);
    assert.deepEqual(lookup.data.metadata, { team: 'node' });
    assert.equal(lookup.data.secret_id_num_uses, 3);

    const app = as(undefined);
    const login = await app.approleLogin({ role_id: roleId, secret_id: secret.secret_id });
    assert.equal(app.token, login.auth.client_token, 'node-vault adopts the login token');
    assert.deepEqual(login.auth.policies, ['default', 'node-app']);
    assert.deepEqual(login.auth.token_policies, ['default', 'node-app']);
    // The secret id's metadata joins the token's.
    assert.deepEqual(login.auth.metadata, { role_name: 'web', team: 'node' });
    assert.equal(login.auth.lease_duration, 600);
    assert.equal(login.auth.renewable, true);
    assert.equal(login.auth.token_type, 'service');

    // The login token works as its policy says.
    await app.write('secret/data/node/app-cfg', { data: { from: 'approle' } });
    assert.deepEqual((await app.read('secret/data/node/app-cfg')).data.data, { from: 'approle' });
    await refused(app.read('secret/data/node/other'), 403, 'permission denied');
    const self = await app.tokenLookupSelf();
    assert.equal(self.data.path, 'auth/approle/login');
    assert.deepEqual(self.data.meta, { role_name: 'web', team: 'node' });
    assert.equal(self.data.display_name, 'approle');
    // One use of three is spent.
    const used = await root.approleSecretLookup({ role_name: 'web', secret_id: secret.secret_id });
    assert.equal(used.data.secret_id_num_uses, 2);

    await refused(as(undefined).approleLogin({ role_id: roleId, secret_id: 'not-the-secret' }), 400, 'invalid role or secret ID');
    await refused(as(undefined).approleLogin({ role_id: 'not-a-role', secret_id: secret.secret_id }), 400, 'invalid role or secret ID');

    // A custom role id, then destroying the secret id ends logins with it.
    await root.updateApproleRoleId({ role_name: 'web', role_id: 'web-role-id' });
    assert.equal((await root.getApproleRoleId({ role_name: 'web' })).data.role_id, 'web-role-id');
    assert.ok((await as(undefined).approleLogin({ role_id: 'web-role-id', secret_id: secret.secret_id })).auth.client_token);
    await root.approleSecretDestroy({ role_name: 'web', secret_id: secret.secret_id });
    await refused(as(undefined).approleLogin({ role_id: 'web-role-id', secret_id: secret.secret_id }), 400, 'invalid role or secret ID');

    // And by accessor.
    const other = (await root.getApproleRoleSecret({ role_name: 'web' })).data;
    const byAccessor = await root.approleSecretAccessorLookup({ role_name: 'web', secret_id_accessor: other.secret_id_accessor });
    assert.equal(byAccessor.data.secret_id_accessor, other.secret_id_accessor);
    await root.write('auth/approle/role/web/secret-id-accessor/destroy', { secret_id_accessor: other.secret_id_accessor });
    await refused(as(undefined).approleLogin({ role_id: 'web-role-id', secret_id: other.secret_id }), 400, 'invalid role or secret ID');

    await root.deleteApproleRole({ role_name: 'web' });
    await refused(root.getApproleRole({ role_name: 'web' }), 404);
}

async function wrappingFlows(root) {
    // A wrapped KV read: the secret comes back only through unwrap, once.
    await root.write('secret/data/node/wrapped', { data: { pass: 'hidden' } });
    const wrapped = await root.read('secret/data/node/wrapped', wrapTtl('5m'));
    assert.equal(wrapped.data, null);
    assert.equal(wrapped.wrap_info.ttl, 300);
    assert.equal(wrapped.wrap_info.creation_path, 'secret/data/node/wrapped');
    assert.ok(wrapped.wrap_info.token && wrapped.wrap_info.accessor);
    assert.match(wrapped.wrap_info.creation_time, /^\d{4}-\d\d-\d\dT/);
    const lookup = await root.write('sys/wrapping/lookup', { token: wrapped.wrap_info.token });
    assert.equal(lookup.data.creation_ttl, 300);
    assert.equal(lookup.data.creation_path, 'secret/data/node/wrapped');
    const unwrapped = await root.unwrap({ token: wrapped.wrap_info.token });
    assert.deepEqual(unwrapped.data.data, { pass: 'hidden' });
    assert.equal(unwrapped.data.metadata.version, 1);
    await refused(root.unwrap({ token: wrapped.wrap_info.token }), 400, 'wrapping token is not valid or does not exist');

    // Unwrapping with the wrapping token as the client token (no body).
    const again = await root.read('secret/data/node/wrapped', wrapTtl('60'));
    assert.equal(again.wrap_info.ttl, 60);
    assert.deepEqual((await as(again.wrap_info.token).unwrap()).data.data, { pass: 'hidden' });

    // sys/wrapping/wrap and rewrap: the old token dies, the new one unwraps.
    const made = await root.write('sys/wrapping/wrap', { any: 'thing' }, wrapTtl('2m'));
    assert.equal(made.wrap_info.creation_path, 'sys/wrapping/wrap');
    const rewrapped = await root.write('sys/wrapping/rewrap', { token: made.wrap_info.token });
    assert.notEqual(rewrapped.wrap_info.token, made.wrap_info.token);
    assert.equal(rewrapped.wrap_info.ttl, 120);
    await refused(root.unwrap({ token: made.wrap_info.token }), 400);
    assert.deepEqual((await root.unwrap({ token: rewrapped.wrap_info.token })).data, { any: 'thing' });

    // A wrapped token: wrapped_accessor is the new token's accessor; the client keeps its token.
    const creator = as(rootToken);
    const wrappedToken = await creator.tokenCreate({ policies: ['default'], ttl: '10m', requestOptions: wrapTtl('1m') });
    assert.equal(wrappedToken.auth, null);
    assert.equal(creator.token, rootToken);
    assert.equal(wrappedToken.wrap_info.creation_path, 'auth/token/create');
    const token = (await root.unwrap({ token: wrappedToken.wrap_info.token })).auth;
    assert.equal(token.accessor, wrappedToken.wrap_info.wrapped_accessor);
    assert.equal((await as(token.client_token).tokenLookupSelf()).data.ttl > 500, true);

    // A wrapped approle secret id, and a wrapped approle login.
    await root.enableAuth({ mount_point: 'approle-w', type: 'approle' });
    await root.write('auth/approle-w/role/w', { token_policies: 'default', token_ttl: '5m' });
    const roleId = (await root.read('auth/approle-w/role/w/role-id')).data.role_id;
    const wrappedSecret = await root.write('auth/approle-w/role/w/secret-id', {}, wrapTtl('1m'));
    assert.equal(wrappedSecret.data, null);
    assert.equal(wrappedSecret.wrap_info.creation_path, 'auth/approle-w/role/w/secret-id');
    const secret = (await root.unwrap({ token: wrappedSecret.wrap_info.token })).data;
    assert.equal(secret.secret_id_accessor, wrappedSecret.wrap_info.wrapped_accessor);
    const app = as(undefined);
    const wrappedLogin = await app.approleLogin({
        mount_point: 'approle-w',
        role_id: roleId,
        secret_id: secret.secret_id,
        requestOptions: wrapTtl('1m'),
    });
    assert.equal(wrappedLogin.auth, null);
    assert.equal(app.token, undefined);
    const login = (await root.unwrap({ token: wrappedLogin.wrap_info.token })).auth;
    assert.equal(login.accessor, wrappedLogin.wrap_info.wrapped_accessor);
    assert.deepEqual(login.metadata, { role_name: 'w' });
    assert.equal((await as(login.client_token).tokenLookupSelf()).data.path, 'auth/approle-w/login');
}

async function main() {
    const root = as(rootToken);
    const steps = [
        ['kv2', kv2],
        ['transit', transit],
        ['tokens', tokens],
        ['approle', approle],
    ];
    if (wrapping) steps.push(['wrapping', wrappingFlows]);
    for (const [name, step] of steps) {
        try {
            await step(root);
        } catch (e) {
            console.error(`node-vault flow "${name}" failed against ${endpoint}:`);
            console.error(e && e.stack ? e.stack : e);
            if (e && e.response) console.error('answer:', JSON.stringify(e.response));
            process.exit(1);
        }
        console.log(`ok: ${name}`);
    }
    console.log(`node-vault: all flows passed${wrapping ? ' (with wrapping)' : ' (wrapping not run)'}`);
}

main();
