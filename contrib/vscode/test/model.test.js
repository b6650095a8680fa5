// The view's rows, the status bar and the diagnostics' grouping, from the
// shapes hpm's README documents.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const model = require('../src/model');

const status = {
  workspace: '/w/core',
  mode: 'dev',
  in_sync: true,
  packages: [
    {
      name: 'plugin-a', mode: 'dev',
      source: { type: 'path', path: 'packages/plugin-a', editable: true },
      installed_version: '1.1.0.dev0', installed_matches: true,
      repo: { path: 'packages/plugin-a', branch: 'main', head: '0a1b2c3d4e5f', dirty: true, ahead: 1, behind: 0 },
    },
    {
      name: 'plugin-b', mode: 'prod',
      source: { type: 'git', url: 'file:///r/plugin-b.git', reference: { tag: 'v1.0.0' } },
      installed_version: '1.0.0', installed_matches: true, required_by: ['plugin-a'],
    },
    { name: 'plugin-c', mode: 'prod', source: { type: 'index', version: '2.0.0' }, installed_version: null },
  ],
};

test('one row per package with its mode, source, version and clone', () => {
  const rows = model.rows(status);
  assert.deepEqual(rows.map((row) => row.name), ['plugin-a', 'plugin-b', 'plugin-c']);
  assert.equal(rows[0].description, 'dev · packages/plugin-a · 1.1.0.dev0 · main@0a1b2c3d * ↑1 ↓0');
  assert.equal(rows[0].contextValue, 'package.dev');
  assert.equal(rows[0].clone, '/w/core/packages/plugin-a');
  assert.equal(rows[0].icon, 'tools');
  assert.equal(rows[1].description, 'prod · git v1.0.0 · 1.0.0 · required by plugin-a');
  assert.equal(rows[1].contextValue, 'package');
  assert.equal(rows[1].clone, null);
  assert.match(rows[2].tooltip, /installed: not installed/);
  assert.deepEqual(model.rows(null), []);
});

test('the status bar has three states', () => {
  assert.deepEqual(model.statusBar(status, false), { text: 'hpm: dev', state: 'in-sync' });
  assert.equal(model.statusBar({ ...status, in_sync: false }, false).state, 'out-of-sync');
  const running = model.statusBar(status, true);
  assert.equal(running.state, 'running');
  assert.match(running.text, /\$\(sync~spin\) hpm: dev/);
});

test('problems are grouped by file at 0-based positions, hints kept', () => {
  const byFile = model.problemsByFile('/w/core', [
    { file: 'hpm.yaml', line: 3, column: 5, message: 'unknown field', hint: 'remove it' },
    { file: 'hpm-registry/x.yaml', line: 1, column: 1, package: 'x', message: 'no prod source' },
    { message: 'somewhere' },
  ]);
  assert.deepEqual(Object.keys(byFile).sort(), ['/w/core/hpm-registry/x.yaml', '/w/core/hpm.yaml']);
  assert.deepEqual(byFile['/w/core/hpm.yaml'][0], { line: 2, column: 4, message: 'unknown field\nhint: remove it' });
  assert.equal(byFile['/w/core/hpm.yaml'].length, 2);
  assert.equal(byFile['/w/core/hpm-registry/x.yaml'][0].message, 'x: no prod source');
});

test('a sync that reinstalled something is one to offer a language server restart for', () => {
  assert.equal(model.changedInstalled({ reinstalled: ['plugin-a'] }), true);
  assert.equal(model.changedInstalled({ reinstalled: [] }), false);
  assert.equal(model.changedInstalled(undefined), false);
});

test('uv, the engine and a release write to the output channel; only failures notify', () => {
  assert.equal(model.logLine({ event: 'progress', line: 'Resolved 3 packages' }), 'Resolved 3 packages');
  assert.equal(model.logLine({ event: 'image_progress', line: '#5 DONE 0.2s' }), '#5 DONE 0.2s');
  assert.equal(
    model.logLine({ event: 'image_built', image_id: 'sha256:ab', tags: ['core-app:prod'] }),
    'hpm: image sha256:ab built as core-app:prod',
  );
  assert.equal(
    model.logLine({ event: 'release_step', id: 'r1', step: 'alpha:tag', state: 'applied', detail: null }),
    'hpm: release r1: alpha:tag applied',
  );
  assert.equal(
    model.logLine({ event: 'release_waiting', id: 'r1', message: 'the forge: PATCH x failed (502: down); attempt 2 of 5 in 200 ms' }),
    'hpm: release r1: waiting: the forge: PATCH x failed (502: down); attempt 2 of 5 in 200 ms',
  );
  assert.equal(model.logLine({ event: 'status_changed' }), null);
  assert.equal(model.failureOf({ event: 'release_finished', id: 'r1', outcome: 'complete' }), null);
  assert.match(model.failureOf({ event: 'release_finished', id: 'r1', outcome: 'partial' }), /hpmctl release resume r1/);
  assert.equal(model.failureOf({ event: 'job_failed', message: 'uv failed', hint: 'see the log' }), 'hpm: uv failed — see the log');
  assert.equal(model.failureOf({ event: 'image_built', image_id: 'x', tags: [] }), null);
});

test('the modes offered are those the status names, else the usual three', () => {
  assert.deepEqual(model.modesOf({ modes: ['dev', 'staging', 'prod', 'qa'] }), ['dev', 'staging', 'prod', 'qa']);
  assert.deepEqual(model.modesOf({ modes: [] }), ['dev', 'staging', 'prod']);
  assert.deepEqual(model.modesOf(null), ['dev', 'staging', 'prod']);
});

test('several hpm roots: a row per root, package rows keyed by root, the status bar names the root', () => {
  const root = model.rootRow('/w/core', status);
  assert.deepEqual(
    { id: root.id, label: root.label, description: root.description, contextValue: root.contextValue },
    { id: '/w/core', label: 'core', description: 'dev · 3 packages', contextValue: 'root' },
  );
  assert.equal(model.rootRow('/w/other', null).description, 'reading…');
  const [first] = model.rows(status);
  assert.equal(first.root, '/w/core');
  assert.notEqual(first.id, model.rows({ ...status, workspace: '/w/other' })[0].id);
  assert.equal(model.statusBar(status, false, 'core').text, 'hpm (core): dev');
  assert.equal(model.statusBar(status, false).text, 'hpm: dev');
});

test('a multi-line error with its hint is a row per line under "hpmd is not answering"', () => {
  const failure = {
    message: 'hpmd could not start on `/run/x/hpmd.sock`: refusing the folder\n  hint: chmod 700 /run/x',
    data: { hint: 'set HPM_SOCKET\nor use --no-daemon' },
  };
  const rows = model.failureRows('/w/core', failure);
  assert.deepEqual(rows.map((row) => row.label), [
    'hpmd is not answering; the extension keeps trying',
    'hpmd could not start on `/run/x/hpmd.sock`: refusing the folder',
    'hint: chmod 700 /run/x',
    'hint: set HPM_SOCKET',
    'or use --no-daemon',
  ]);
  assert.equal(new Set(rows.map((row) => row.id)).size, rows.length);
  assert.ok(rows.every((row) => !row.label.includes('\n') && row.contextValue === 'failure'));
});
