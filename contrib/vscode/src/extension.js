// The VS Code side: the `hpm` view (one row per package), the status bar
// item, the commands, the `hpm` output channel (uv's lines go there, never
// to popups), diagnostics from `manifest_invalid`, and a cancellable
// progress notification per job. All state comes from hpmd through
// `Connection` (src/client.js) and is shaped by src/model.js.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');
const { Connection, hpmctl } = require('./client');
const model = require('./model');


class PackagesView {
  constructor() {
    this.changed = new vscode.EventEmitter();
    this.onDidChangeTreeData = this.changed.event;
    this.rows = [];
  }

  show(status) {
    this.rows = model.rows(status);
    this.changed.fire();
  }

  getTreeItem(row) {
    const item = new vscode.TreeItem(row.label, vscode.TreeItemCollapsibleState.None);
    item.description = row.description;
    item.tooltip = row.tooltip;
    item.iconPath = new vscode.ThemeIcon(row.icon);
    item.contextValue = row.contextValue;
    item.id = row.name;
    return item;
  }

  getChildren() {
    return this.rows;
  }
}

/** One workspace folder holding `hpm.yaml`, and everything shown for it. */
class Session {
  constructor(context, root) {
    this.context = context;
    this.root = root;
    this.status = null;
    this.jobs = new Map(); // job id → { resolve } of its progress notification
    this.output = vscode.window.createOutputChannel('hpm');
    this.diagnostics = vscode.languages.createDiagnosticCollection('hpm');
    this.view = new PackagesView();
    this.tree = vscode.window.createTreeView('hpm.packages', { treeDataProvider: this.view });
    this.bar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
    this.bar.command = 'hpm.switch';
    this.refreshTimer = null;
    this.problemsFromStatus = false;
    this.connection = new Connection({
      hpmctl: this.executable(),
      onEvent: (event) => this.onEvent(event),
      onResync: () => this.refreshSoon(),
      onState: (state) => this.onState(state),
      log: (line) => this.output.appendLine(line),
    });
    context.subscriptions.push(this.output, this.diagnostics, this.tree, this.bar, { dispose: () => this.connection.close() });
    this.tree.onDidChangeVisibility(() => {
      if (this.tree.visible) {
        this.refreshSoon();
      }
    });
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
    if (!this.tree.visible && !barShown && this.status) {
      this.paintBar();
      return;
    }
    try {
      this.status = await this.connection.call('hpm_status', [this.root, false]);
      this.view.show(this.status);
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
      this.output.appendLine(`hpm: status: ${error.message}`);
    }
    this.paintBar();
  }

  paintBar() {
    if (!vscode.workspace.getConfiguration('hpm').get('showStatusBar', true)) {
      this.bar.hide();
      return;
    }
    const shown = model.statusBar(this.status, this.jobs.size > 0);
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
      this.output.appendLine(line);
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
        if (this.tree.visible) {
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
        this.connection.call('hpm_cancel', [this.root]).catch((error) => this.output.appendLine(`hpm: cancel: ${error.message}`));
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

function packageName(argument) {
  return argument && argument.name ? argument.name : null;
}

async function pickPackage(session, prompt) {
  const names = (session.status && session.status.packages || []).map((item) => item.name);
  return vscode.window.showQuickPick(names, { placeHolder: prompt });
}

function activate(context) {
  const folder = (vscode.workspace.workspaceFolders || []).find((candidate) => fs.existsSync(path.join(candidate.uri.fsPath, 'hpm.yaml')));
  vscode.commands.executeCommand('setContext', 'hpm.workspace', Boolean(folder));
  if (!folder) {
    return;
  }
  const session = new Session(context, fs.realpathSync(folder.uri.fsPath));
  const register = (name, run) => context.subscriptions.push(vscode.commands.registerCommand(name, run));
  register('hpm.switch', async () => {
    const mode = await vscode.window.showQuickPick(model.modesOf(session.status), { placeHolder: 'Switch the workspace to' });
    if (mode) {
      await session.apply({ kind: 'switch', mode });
    }
  });
  register('hpm.sync', () => session.apply({ kind: 'sync', mode: null, force: false }));
  register('hpm.dev', async (row) => {
    const name = packageName(row) || await pickPackage(session, 'Put in dev');
    if (name) {
      await session.apply({ kind: 'use', packages: [name], mode: 'dev', clone: true });
    }
  });
  register('hpm.use', async (row) => {
    const name = packageName(row) || await pickPackage(session, 'Package');
    const mode = name && await vscode.window.showQuickPick(model.modesOf(session.status), { placeHolder: `Mode for ${name}` });
    if (name && mode) {
      await session.apply({ kind: 'use', packages: [name], mode, clone: false });
    }
  });
  register('hpm.reset', async (row) => {
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
  register('hpm.cancel', () => session.connection.call('hpm_cancel', [session.root]).catch(() => {}));
  register('hpm.refresh', () => session.refresh());
  register('hpm.showLog', () => session.output.show());
  register('hpm.restartDaemon', async () => {
    session.connection.close();
    try {
      await hpmctl(session.executable(), ['daemon', 'stop']);
    } catch {
      // Not running: start it below.
    }
    session.start();
  });
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((change) => {
    // Read afresh: an item shown again would hold a status not read while
    // nothing showed it (a refresh always repaints, hidden or not).
    if (change.affectsConfiguration('hpm')) {
      session.refresh();
    }
  }));
  session.start();
  return session;
}

function deactivate() {}

module.exports = { activate, deactivate };
