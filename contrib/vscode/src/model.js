// What the hpm view shows, as plain data (no `vscode` here, so it is tested
// on its own): one row per package from `hpm_status`, the status bar's
// text and state, and `manifest_invalid` problems grouped by file.
// @ts-check
'use strict';

const path = require('node:path');

/** The codicon of a mode. */
function modeIcon(mode) {
  switch (mode) {
    case 'dev': return 'tools';
    case 'staging': return 'beaker';
    case 'prod': return 'package';
    default: return 'circle-outline';
  }
}

/** `packages/x` (path), `git v1.0.0` (tag), `1.2.3` (index). */
function sourceText(source) {
  if (!source) {
    return '';
  }
  if (source.type === 'path') {
    return source.path;
  }
  if (source.type === 'git') {
    const reference = source.reference;
    if (reference && typeof reference === 'object') {
      return `git ${Object.values(reference)[0]}`;
    }
    return `git ${reference || ''}`.trim();
  }
  if (source.type === 'index') {
    return source.version || 'index';
  }
  return source.type || '';
}

/** `main@0a1b2c3d *` with ↑↓ when there is an upstream. */
function repoText(repo) {
  if (!repo) {
    return '';
  }
  let text = `${repo.branch || '(detached)'}@${(repo.head || '').slice(0, 8)}`;
  if (repo.dirty) {
    text += ' *';
  }
  if (repo.ahead !== null && repo.ahead !== undefined) {
    text += ` ↑${repo.ahead} ↓${repo.behind || 0}`;
  }
  return text;
}

/** The view's rows: `{ name, label, description, tooltip, icon,
 * contextValue, clone }`, in the status's order. */
function rows(status) {
  if (!status || !Array.isArray(status.packages)) {
    return [];
  }
  return status.packages.map((item) => {
    const parts = [item.mode, sourceText(item.source)];
    if (item.installed_version) {
      parts.push(item.installed_version);
    }
    const repo = repoText(item.repo);
    if (repo) {
      parts.push(repo);
    }
    const requiredBy = Array.isArray(item.required_by) && item.required_by.length
      ? `required by ${item.required_by.join(', ')}` : '';
    if (requiredBy) {
      parts.push(requiredBy);
    }
    const tooltip = [
      `${item.name}: ${item.mode}`,
      `source: ${sourceText(item.source)}`,
      `installed: ${item.installed_version || 'not installed'}`,
      repo && `clone: ${repo}`,
      requiredBy,
    ].filter(Boolean).join('\n');
    const clone = item.repo && status.workspace ? path.resolve(status.workspace, item.repo.path) : null;
    return {
      // Unique across the window's hpm roots (a multi-root window may
      // hold one package name in two workspaces).
      id: `${status.workspace || ''}\u0000${item.name}`,
      root: status.workspace || null,
      name: item.name,
      label: item.name,
      description: parts.filter(Boolean).join(' · '),
      tooltip,
      icon: modeIcon(item.mode),
      // `package.dev`: a package in dev (with a clone to open), else
      // `package`; the menus in package.json key on it.
      contextValue: item.mode === 'dev' ? 'package.dev' : 'package',
      clone,
    };
  });
}

/** The status bar: `hpm: <mode>` (`hpm (<root>): <mode>` when the window
 * has several hpm roots, `root` naming this one) and one of `running`,
 * `out-of-sync`, `in-sync`. */
function statusBar(status, running, root) {
  const hpm = root ? `hpm (${root})` : 'hpm';
  if (!status) {
    return { text: hpm, state: 'unknown' };
  }
  if (running) {
    return { text: `$(sync~spin) ${hpm}: ${status.mode}`, state: 'running' };
  }
  if (status.in_sync === false) {
    return { text: `$(warning) ${hpm}: ${status.mode}`, state: 'out-of-sync' };
  }
  return { text: `${hpm}: ${status.mode}`, state: 'in-sync' };
}

/** Rows saying why hpmd cannot be reached: a first row, then each line of
 * the error's message and of its hint (a message may span lines: the
 * daemon refusing a socket folder says why, then what to do). */
function failureRows(root, failure) {
  const lines = String(failure.message || '').split('\n');
  const hint = failure.data && failure.data.hint;
  if (hint) {
    lines.push(...String(hint).split('\n').map((line, index) => (index === 0 ? `hint: ${line}` : line)));
  }
  const rows = lines
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line, index) => ({
      id: `${root}\u0000failure\u0000${index}`,
      root,
      label: line,
      description: '',
      tooltip: line,
      icon: 'blank',
      contextValue: 'failure',
    }));
  return [{
    id: `${root}\u0000failure`,
    root,
    label: 'hpmd is not answering; the extension keeps trying',
    description: '',
    tooltip: 'Restart Daemon and Show Log are on this row',
    icon: 'error',
    contextValue: 'failure',
  }, ...rows];
}

/** The row of one hpm root in a window that has several: its folder's
 * name, its mode, its packages below it. */
function rootRow(root, status) {
  return {
    id: root,
    root,
    label: path.basename(root),
    description: status ? `${status.mode} · ${(status.packages || []).length} packages` : 'reading…',
    tooltip: root,
    icon: 'root-folder',
    contextValue: 'root',
    children: true,
  };
}

/** `manifest_invalid` problems by absolute file: `{ file: [{ line,
 * column, message }] }` (0-based line and column, as editors count). */
function problemsByFile(root, problems) {
  const byFile = {};
  for (const problem of problems || []) {
    const file = path.resolve(root, problem.file || 'hpm.yaml');
    let message = problem.message || 'invalid';
    if (problem.package) {
      message = `${problem.package}: ${message}`;
    }
    if (problem.hint) {
      message += `\nhint: ${problem.hint}`;
    }
    (byFile[file] = byFile[file] || []).push({
      line: Math.max((problem.line || 1) - 1, 0),
      column: Math.max((problem.column || 1) - 1, 0),
      message,
    });
  }
  return byFile;
}

/** Whether a finished sync changed what is installed (then the extension
 * offers to restart the Python language server). */
function changedInstalled(report) {
  return Boolean(report && Array.isArray(report.reinstalled) && report.reinstalled.length > 0);
}

/** The line an event adds to the `hpm` output channel (uv's and the
 * container engine's lines, an image built, a release's steps and its
 * waits on the forge), or null. */
function logLine(event) {
  switch (event.event) {
    case 'progress':
    case 'image_progress':
      return event.line;
    case 'image_built':
      return `hpm: image ${event.image_id} built${event.tags && event.tags.length ? ` as ${event.tags.join(', ')}` : ''}`;
    case 'release_step':
      return `hpm: release ${event.id}: ${event.step} ${event.state}${event.detail ? ` (${event.detail})` : ''}`;
    case 'release_waiting':
      return `hpm: release ${event.id}: waiting: ${event.message}`;
    case 'release_finished':
      return `hpm: release ${event.id}: ${event.outcome}`;
    default:
      return null;
  }
}

/** The error a failed job or release shows as a notification (only
 * failures notify), or null. */
function failureOf(event) {
  if (event.event === 'job_failed') {
    return `hpm: ${event.message}${event.hint ? ` — ${event.hint}` : ''}`;
  }
  if (event.event === 'release_finished' && ['preflight-failed', 'partial', 'conflict', 'unreachable'].includes(event.outcome)) {
    const next = event.outcome === 'partial' ? ` — \`hpmctl release resume ${event.id}\` finishes it` : '';
    return `hpm: release ${event.id}: ${event.outcome}${next}`;
  }
  return null;
}

/** The modes to offer: those the workspace's status names (any name its
 * registry uses), else the usual three. */
function modesOf(status) {
  return status && Array.isArray(status.modes) && status.modes.length > 0 ? status.modes : ['dev', 'staging', 'prod'];
}

module.exports = { rows, rootRow, failureRows, statusBar, problemsByFile, changedInstalled, logLine, failureOf, sourceText, repoText, modeIcon, modesOf };
