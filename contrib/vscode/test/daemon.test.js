// The extension's client against the real hpmd, in a synced workspace that
// tests/tests/editors.rs made (HPM_TEST_WORKSPACE, HPMCTL, HPM_SOCKET):
// status over HTTP on the socket, `hpm_event` notifications over the
// WebSocket (each valid against contrib/schema/event.schema.json), a
// change applied, an error with hpm's data, a stopped daemon started
// again and followed, and one that cannot be reached said to be.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const Ajv2020 = require('ajv/dist/2020');
const { Connection, HpmError } = require('../src/client');

const workspace = process.env.HPM_TEST_WORKSPACE;
const hpmctlPath = process.env.HPMCTL;
assert.ok(workspace && hpmctlPath && process.env.HPM_SOCKET, 'HPM_TEST_WORKSPACE, HPMCTL and HPM_SOCKET must be set (tests/tests/editors.rs sets them)');
const root = fs.realpathSync(workspace);

const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '../../schema/event.schema.json'), 'utf8'));
const validEvent = new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(schema);

function waitFor(what, condition, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const value = condition();
      if (value) {
        resolve(value);
      } else if (Date.now() - started > timeoutMs) {
        reject(new Error(`timed out waiting for ${what}`));
      } else {
        setTimeout(tick, 25);
      }
    };
    tick();
  });
}

test('the client follows and drives the real daemon', async (t) => {
  const events = [];
  let resyncs = 0;
  let connections = 0;
  const connection = new Connection({
    hpmctl: hpmctlPath,
    onEvent: (event) => events.push(event),
    onResync: () => { resyncs += 1; },
    onState: (state) => { if (state === 'connected') connections += 1; },
    maxBackoffMs: 500,
  });
  t.after(() => connection.close());
  await connection.start();
  assert.equal(connections, 1);
  assert.ok(resyncs >= 1, 'a connection asks for a status read');

  await t.test('status over HTTP on the socket', async () => {
    const status = await connection.call('hpm_status', [root, false]);
    assert.equal(status.mode, 'dev');
    assert.deepEqual(status.packages.map((p) => p.name).sort(), ['plugin-a', 'plugin-b']);
  });

  await t.test('a switch on the command line arrives as valid hpm_event notifications', async () => {
    const mark = events.length;
    execFileSync(hpmctlPath, ['--workspace', root, 'switch', 'prod'], { stdio: 'pipe' });
    await waitFor('job_finished', () => events.slice(mark).find((e) => e.event === 'job_finished'));
    const seen = events.slice(mark);
    assert.ok(seen.some((e) => e.event === 'job_started'));
    assert.ok(seen.some((e) => e.event === 'progress'));
    for (const event of seen) {
      assert.ok(validEvent(event), `${JSON.stringify(event)}: ${JSON.stringify(validEvent.errors)}`);
      assert.equal(event.workspace, root);
    }
    const status = await connection.call('hpm_status', [root, false]);
    assert.equal(status.mode, 'prod');
  });

  await t.test('hpm_apply from the extension changes one package', async () => {
    await connection.call('hpm_apply', [root, { kind: 'use', packages: ['plugin-a'], mode: 'dev', clone: false }]);
    const status = await connection.call('hpm_status', [root, false]);
    const modes = Object.fromEntries(status.packages.map((p) => [p.name, p.mode]));
    assert.deepEqual(modes, { 'plugin-a': 'dev', 'plugin-b': 'prod' });
  });

  await t.test('an error carries its code and hpm data', async () => {
    await assert.rejects(
      connection.call('hpm_apply', [root, { kind: 'use', packages: ['no-such-package'], mode: 'dev', clone: false }]),
      (error) => error instanceof HpmError && error.code === 1002 && Array.isArray(error.data.problems) && error.data.problems.length > 0,
    );
  });

  await t.test('a gap in seq asks for a status read', () => {
    const before = resyncs;
    const last = connection.lastSeq;
    connection.receive({ seq: last + 1, workspace: root, event: 'status_changed' });
    assert.equal(resyncs, before);
    connection.receive({ seq: last + 5, workspace: root, event: 'status_changed' });
    assert.equal(resyncs, before + 1);
  });

  await t.test('a stopped daemon is started again and followed', async () => {
    const before = connections;
    execFileSync(hpmctlPath, ['daemon', 'stop'], { stdio: 'pipe' });
    await waitFor('a reconnection', () => connections > before);
    const mark = events.length;
    execFileSync(hpmctlPath, ['--workspace', root, 'switch', 'dev'], { stdio: 'pipe' });
    await waitFor('the new daemon\'s job_finished', () => events.slice(mark).find((e) => e.event === 'job_finished'));
  });

  await t.test('a daemon never reached, with no hpmctl to start it, is said to be disconnected', async () => {
    const states = [];
    const lost = new Connection({ hpmctl: path.join(root, 'no-such-hpmctl'), onState: (state) => states.push(state), maxBackoffMs: 50 });
    lost.start();
    try {
      await waitFor('a disconnected state', () => states.includes('disconnected'), 10000);
      assert.ok(!states.includes('connected'), states.join(', '));
    } finally {
      lost.close();
    }
  });
});
