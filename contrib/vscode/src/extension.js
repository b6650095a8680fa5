// The VS Code side: the `hpm` view (one row per package; a row per hpm
// root above them in a multi-root window), a status bar item per root, the
// commands, the `hpm` log channel (uv's lines go there, never to popups),
// diagnostics from `manifest_invalid`, and a cancellable progress
// notification per job. A session starts for each window folder holding
// `hpm.yaml`, also one made after the window opened. All state comes from hpmd through
// `Connection` (src/client.js) and is shaped by src/model.js.
// @ts-check
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');
const { Connection, hpmctl } = require('./client');
const model = require('./model');


/** The `hpm` view: the packages of the window's one hpm root, or, when it
 * has several, a row per root with its packages below. */
class PackagesView {
  constructor(sessions) {
    this.sessions = sessions;
    this.changed = new vscode.EventEmitter();
    this.onDidChangeTreeData = this.changed.event;
  }

  refresh() {
    this.changed.fire(undefined);
  }

  getTreeItem(row) {
    const state = row.children ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(row.label, state);
    item.description = row.description;
    item.tooltip = row.tooltip;
    item.iconPath = new vscode.ThemeIcon(row.icon);
    item.contextValue = row.contextValue;
    item.id = row.id;
    return item;
  }

  getChildren(parent) {
    const sessions = [...this.sessions.values()];
    if (parent) {
      const session = this.sessions.get(parent.root);
      return session ? session.rows() : [];
    }
    if (sessions.length === 1) {
      return sessions[0].rows();
    }
    return sessions.map((session) => model.rootRow(session.root, session.status));
  }
}

/** One workspace folder holding `hpm.yaml`, and everything shown for it:
 * its connection to hpmd, status, status bar item, problems and jobs. */
class Session {
  constructor(shared, root) {
    this.shared = shared;
    this.root = root;
    this.status = null;
    this.jobs = new Map(); // job id → { resolve } of its progress notification
    this.output = shared.output;
    this.diagnostics = vscode.languages.createDiagnosticCollection('hpm');
    this.bar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
    this.bar.command = { command: 'hpm.switch', title: 'Switch Workspace Mode', arguments: [{ root }] };
    /** @type {NodeJS.Timeout | undefined} */
    this.refreshTimer = undefined;
    this.problemsFromStatus = false;
    /** Why hpmd cannot be reached, shown in the view line by line. */
    this.failure = null;
    this.connection = this.connect();
  }

  /** A connection to hpmd through the configured hpmctl (read now: a
   * changed `hpm.hpmctlPath` takes effect on the next one). */
  connect() {
    return new Connection({
      hpmctl: this.executable(),
      onEvent: (event) => this.onEvent(event),
      onResync: () => this.refreshSoon(),
      onState: (state) => this.onState(state),
      onFailure: (failure) => {
        this.failure = failure;
        this.shared.view.refresh();
      },
      log: (line) => this.output.info(line),
    });
  }

  /** The view's rows for this root: why hpmd cannot be reached, while
   * it cannot, else the packages. */
  rows() {
    return this.failure ? model.failureRows(this.root, this.failure) : model.rows(this.status);
  }

  /** The hpm.hpmctlPath setting changed: reconnect through the new one. */
  reconnect() {
    this.connection.close();
    this.connection = this.connect();
    this.start();
  }

  dispose() {
    clearTimeout(this.refreshTimer);
    this.connection.close();
    this.diagnostics.dispose();
    this.bar.dispose();
    for (const { resolve } of this.jobs.values()) {
      resolve();
    }
  }

  executable() {
    const configured = vscode.workspace.getConfiguration('hpm').get('hpmctlPath');
    return configured && configured.trim() ? configured.trim() : 'hpmctl';
  }

  start() {
    vscode.commands.executeCommand('setContext', 'hpm.daemon', 'connecting');
    this.connection.start();
  }

  onState(state) {
    vscode.commands.executeCommand('setContext', 'hpm.daemon', state);
    if (state === 'disconnected') {
      this.bar.text = '$(debug-disconnect) hpm';
      this.bar.tooltip = 'hpm: reconnecting to hpmd';
    }
  }

  /** Re-reads the status once a burst of events has passed; skipped while
   * nothing shows it (the view hidden and the status bar item off). */
  refreshSoon() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), 150);
  }

  async refresh() {
    const barShown = vscode.workspace.getConfiguration('hpm').get('showStatusBar', true);
    if (!this.shared.tree.visible && !barShown && this.status) {
      this.paintBar();
      return;
    }
    try {
      this.status = await this.connection.call('hpm_status', [this.root, false]);
      this.shared.view.refresh();
      // Problems a failed status read showed go once a read succeeds;
      // the watcher's (manifest_invalid) stay until manifest_valid.
      if (this.problemsFromStatus) {
        this.diagnosticsFrom([]);
        this.problemsFromStatus = false;
      }
    } catch (error) {
      if (error.data && Array.isArray(error.data.problems)) {
        this.diagnosticsFrom(error.data.problems);
        this.problemsFromStatus = true;
      }
      this.output.warn(`hpm: status: ${error.message}`);
    }
    this.paintBar();
  }

  paintBar() {
    if (!vscode.workspace.getConfiguration('hpm').get('showStatusBar', true)) {
      this.bar.hide();
      return;
    }
    const several = this.shared.sessions.size > 1;
    const shown = model.statusBar(this.status, this.jobs.size > 0, several ? path.basename(this.root) : undefined);
    this.bar.text = shown.text;
    this.bar.tooltip = {
      'in-sync': 'hpm: in sync — click to switch the mode',
      'out-of-sync': 'hpm: an input changed since the last sync — click to switch, or run "hpm: Sync"',
      running: 'hpm: a job is running',
      unknown: 'hpm',
    }[shown.state];
    this.bar.show();
  }

  diagnosticsFrom(problems) {
    this.diagnostics.clear();
    const byFile = model.problemsByFile(this.root, problems);
    for (const [file, entries] of Object.entries(byFile)) {
      this.diagnostics.set(vscode.Uri.file(file), entries.map((entry) => {
        const position = new vscode.Position(entry.line, entry.column);
        const diagnostic = new vscode.Diagnostic(new vscode.Range(position, position.translate(0, 1)), entry.message, vscode.DiagnosticSeverity.Error);
        diagnostic.source = 'hpm';
        return diagnostic;
      }));
    }
  }

  onEvent(event) {
    if (event.workspace && event.workspace !== this.root) {
      return;
    }
    const line = model.logLine(event);
    if (line !== null) {
      this.output.info(line);
    }
    switch (event.event) {
      case 'job_started':
        this.jobStarted(event);
        break;
      case 'job_finished':
        this.jobEnded(event.job);
        if (model.changedInstalled(event.report)) {
          this.offerLanguageServerRestart();
        }
        this.refreshSoon();
        break;
      case 'job_failed':
        this.jobEnded(event.job);
        this.showFailure(event);
        this.refreshSoon();
        break;
      case 'release_finished':
        this.showFailure(event);
        this.refreshSoon();
        break;
      case 'manifest_invalid':
        this.diagnosticsFrom(event.problems);
        break;
      case 'manifest_valid':
        this.diagnosticsFrom([]);
        break;
      case 'status_changed':
        this.refreshSoon();
        break;
      case 'repo_changed':
        if (this.shared.tree.visible) {
          this.refreshSoon();
        }
        break;
      default:
        break;
    }
  }

  showFailure(event) {
    const message = model.failureOf(event);
    if (message) {
      vscode.window.showErrorMessage(message, 'Show Log').then((choice) => choice && this.output.show());
    }
  }

  jobStarted(event) {
    this.paintBar();
    vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification,
      title: `hpm: ${event.change ? event.change.kind : 'sync'}`,
      cancellable: true,
    }, (progress, token) => new Promise((resolve) => {
      this.jobs.set(event.job, { resolve });
      this.paintBar();
      token.onCancellationRequested(() => {
        this.connection.call('hpm_cancel', [this.root]).catch((error) => this.output.warn(`hpm: cancel: ${error.message}`));
      });
    }));
  }

  jobEnded(job) {
    const entry = this.jobs.get(job);
    if (entry) {
      entry.resolve();
      this.jobs.delete(job);
    }
    this.paintBar();
  }

  async offerLanguageServerRestart() {
    const choice = await vscode.window.showInformationMessage('hpm: installed packages changed. Restart the Python language server?', 'Restart', 'Not now');
    if (choice === 'Restart') {
      const commands = await vscode.commands.getCommands(true);
      for (const command of ['python.analysis.restartLanguageServer', 'pylance.restartLanguageServer']) {
        if (commands.includes(command)) {
          await vscode.commands.executeCommand(command);
          return;
        }
      }
    }
  }

  /** `hpm_apply` with one change; failures notify, the rest stays quiet. */
  async apply(change) {
    try {
      await this.connection.call('hpm_apply', [this.root, change]);
    } catch (error) {
      const hint = error.data && error.data.hint ? ` — ${error.data.hint}` : '';
      vscode.window.showErrorMessage(`hpm: ${error.message}${hint}`);
    }
    this.refreshSoon();
  }
}

/** The hpm roots among the window's folders: each folder holding `hpm.yaml`. */
function hpmRoots() {
  return (vscode.workspace.workspaceFolders || [])
    .map((folder) => folder.uri.fsPath)
    .filter((folder) => fs.existsSync(path.join(folder, 'hpm.yaml')))
    .map((folder) => fs.realpathSync(folder));
}

/** Every session of the window, and what they share: the view, the log. */
class Sessions {
  constructor(context) {
    this.sessions = new Map(); // root → Session
    // A log channel: levels, timestamps, and the user's log-level setting
    // ("Developer: Set Log Level…").
    this.output = vscode.window.createOutputChannel('hpm', { log: true });
    this.view = new PackagesView(this.sessions);
    this.tree = vscode.window.createTreeView('hpm.packages', { treeDataProvider: this.view });
    context.subscriptions.push(this.output, this.tree, { dispose: () => this.disposeAll() });
    this.tree.onDidChangeVisibility(() => {
      if (this.tree.visible) {
        this.sessions.forEach((session) => session.refreshSoon());
      }
    });
  }

  /** Starts a session for each hpm root that has none, ends those whose
   * `hpm.yaml` or folder went; the view and the palette follow. */
  update() {
    const roots = hpmRoots();
    if (roots.length === 0) {
      const folders = (vscode.workspace.workspaceFolders || []).map((folder) => folder.uri.toString());
      this.output.info(`hpm: no hpm.yaml in the window's folders (${folders.join(', ') || 'none'})`);
    }
    for (const [root, session] of this.sessions) {
      if (!roots.includes(root)) {
        session.dispose();
        this.sessions.delete(root);
      }
    }
    for (const root of roots) {
      if (!this.sessions.has(root)) {
        const session = new Session(this, root);
        this.sessions.set(root, session);
        this.output.info(`hpm: workspace ${root}`);
        session.start();
      }
    }
    vscode.commands.executeCommand('setContext', 'hpm.workspace', this.sessions.size > 0);
    this.sessions.forEach((session) => session.paintBar());
    this.view.refresh();
  }

  /** The session a command is for: the row's, the only one, or the one
   * the user picks; none (said) when the window has no hpm root. */
  async pick(row) {
    if (row && row.root && this.sessions.has(row.root)) {
      return this.sessions.get(row.root);
    }
    const sessions = [...this.sessions.values()];
    if (sessions.length === 0) {
      vscode.window.showInformationMessage('hpm: no hpm.yaml in this workspace. Run `hpmctl init` or `hpmctl import` in the core\'s folder.');
      return null;
    }
    if (sessions.length === 1) {
      return sessions[0];
    }
    const picked = await vscode.window.showQuickPick(
      sessions.map((session) => ({ label: path.basename(session.root), description: session.root, session })),
      { placeHolder: 'Which hpm workspace' },
    );
    return picked ? picked.session : null;
  }

  disposeAll() {
    this.sessions.forEach((session) => session.dispose());
    this.sessions.clear();
  }
}

function packageName(argument) {
  return argument && argument.name ? argument.name : null;
}

async function pickPackage(session, prompt) {
  const names = (session.status && session.status.packages || []).map((item) => item.name);
  return vscode.window.showQuickPick(names, { placeHolder: prompt });
}

/** The commands, registered whether or not the window has an hpm root yet
 * (the palette shows them only when it has: `hpm.workspace`). */
function registerCommands(context, sessions) {
  const register = (name, run) => context.subscriptions.push(vscode.commands.registerCommand(name, run));
  // `run(session, row)` for the session the row, the only root or a pick names.
  const forSession = (name, run) => register(name, async (row) => {
    const session = await sessions.pick(row);
    if (session) {
      await run(session, row);
    }
  });
  forSession('hpm.switch', async (session) => {
    const mode = await vscode.window.showQuickPick(model.modesOf(session.status), { placeHolder: 'Switch the workspace to' });
    if (mode) {
      await session.apply({ kind: 'switch', mode });
    }
  });
  forSession('hpm.sync', (session) => session.apply({ kind: 'sync', mode: null, force: false }));
  forSession('hpm.dev', async (session, row) => {
    const name = packageName(row) || await pickPackage(session, 'Put in dev');
    if (name) {
      await session.apply({ kind: 'use', packages: [name], mode: 'dev', clone: true });
    }
  });
  forSession('hpm.use', async (session, row) => {
    const name = packageName(row) || await pickPackage(session, 'Package');
    const mode = name && await vscode.window.showQuickPick(model.modesOf(session.status), { placeHolder: `Mode for ${name}` });
    if (name && mode) {
      await session.apply({ kind: 'use', packages: [name], mode, clone: false });
    }
  });
  forSession('hpm.reset', async (session, row) => {
    const name = packageName(row) || await pickPackage(session, 'Reset');
    if (name) {
      await session.apply({ kind: 'use', packages: [name], mode: null, clone: false });
    }
  });
  register('hpm.openClone', (row) => {
    if (row && row.clone) {
      vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(row.clone), { forceNewWindow: true });
    }
  });
  forSession('hpm.cancel', (session) => session.connection.call('hpm_cancel', [session.root]).catch(() => {}));
  register('hpm.refresh', () => sessions.sessions.forEach((session) => session.refresh()));
  register('hpm.showLog', () => sessions.output.show());
  register('hpm.restartDaemon', async () => {
    const all = [...sessions.sessions.values()];
    all.forEach((session) => session.connection.close());
    try {
      await hpmctl(all.length ? all[0].executable() : 'hpmctl', ['daemon', 'stop']);
    } catch {
      // Not running: the sessions start it below.
    }
    all.forEach((session) => session.start());
  });
}

function activate(context) {
  const sessions = new Sessions(context);
  registerCommands(context, sessions);
  // An hpm.yaml made or removed later (`hpmctl init` in a terminal), and
  // folders added to or removed from the window, start or end sessions
  // without a reload.
  const watcher = vscode.workspace.createFileSystemWatcher('**/hpm.yaml', false, true, false);
  watcher.onDidCreate(() => sessions.update());
  watcher.onDidDelete(() => sessions.update());
  context.subscriptions.push(
    watcher,
    vscode.workspace.onDidChangeWorkspaceFolders(() => sessions.update()),
    vscode.workspace.onDidChangeConfiguration((change) => {
      if (change.affectsConfiguration('hpm.hpmctlPath')) {
        sessions.sessions.forEach((session) => session.reconnect());
      } else if (change.affectsConfiguration('hpm')) {
        // Read afresh: an item shown again would hold a status not read
        // while nothing showed it (a refresh always repaints, hidden or not).
        sessions.sessions.forEach((session) => session.refresh());
      }
    }),
  );
  sessions.update();
  return sessions;
}

function deactivate() {}

module.exports = { activate, deactivate };
