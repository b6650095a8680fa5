// The extension in a real VS Code: code-server (CODE_SERVER) with the
// .vsix (HPM_VSIX) installed, opened on a synced workspace
// (HPM_TEST_WORKSPACE, its daemon at HPM_SOCKET, HPMCTL for the
// extension's setting), driven by headless Chromium (CHROMIUM) through
// playwright-core (PLAYWRIGHT_CORE, its folder). Checks: the tree shows the
// packages with their modes, a switch from the palette changes the status
// bar and the tree, a fourth mode the workspace names (qa) is offered and
// switched to, the status bar item opens the mode pick and its
// setting hides it, an inline "Put in Dev" action works, the language
// server restart is offered, a broken hpm.yaml shows in the Problems panel
// at its line, Cancel on a job's progress stops it, "Open the Clone" opens
// a new window on the clone, a folder without hpm.yaml and a daemon that
// cannot be reached show their welcome texts (and the view reconnects by
// itself), an hpm.yaml made after the window opened starts the extension
// there, a changed hpm.hpmctlPath applies without a reload, a window with
// two hpm roots shows both, a repository's .vscode/settings.json cannot
// choose hpmctl, and
// in Restricted Mode (workspace trust on, the folder not trusted) the
// extension runs nothing until the folder is trusted. Saves a screenshot
// of the view
// to HPM_SCREENSHOT. Prints `ok - …` per check; exits non-zero on the
// first failure.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set (tests/tests/editors.rs sets it)`);
  }
  return value;
};
const codeServer = need('CODE_SERVER');
const vsix = need('HPM_VSIX');
const workspace = fs.realpathSync(need('HPM_TEST_WORKSPACE'));
const hpmctlPath = need('HPMCTL');
const chromiumPath = need('CHROMIUM');
const { chromium } = require(need('PLAYWRIGHT_CORE'));
const screenshot = process.env.HPM_SCREENSHOT;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

// Polls `test` (outside the page) until it holds, for at most a minute.
async function waitFor(what, test) {
  for (let waited = 0; !test(); waited += 200) {
    if (waited > 60000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'hpm-code-server-'));
  const userData = path.join(home, 'user-data');
  const extensions = path.join(home, 'extensions');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({
    'hpm.hpmctlPath': hpmctlPath,
    'workbench.startupEditor': 'none',
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'workbench.tips.enabled': false,
    // settings.json is edited below by typing into it: no brackets or
    // quotes closed and no indentation added behind the typed text.
    'editor.autoClosingBrackets': 'never',
    'editor.autoClosingQuotes': 'never',
    'editor.autoSurround': 'never',
    'editor.autoIndent': 'none',
  }));
  // A repository's own settings naming another hpmctl: a machine setting,
  // it must never be run (it leaves a mark if it is).
  const planted = path.join(home, 'planted-hpmctl');
  fs.writeFileSync(planted, '#!/bin/sh\ntouch "$0.ran"\nexit 1\n', { mode: 0o755 });
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'hpm.hpmctlPath': planted }));
  const env = { ...process.env, XDG_CONFIG_HOME: path.join(home, 'config'), XDG_DATA_HOME: path.join(home, 'data') };
  execFileSync(codeServer, ['--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', vsix], { env, stdio: 'pipe' });
  const port = await freePort();
  // No `--disable-telemetry` (the user setting turns telemetry off): with
  // it, this code-server opens a .code-workspace without its folders.
  const server = spawn(codeServer, [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
    '--disable-update-check', '--disable-workspace-trust',
    '--user-data-dir', userData, '--extensions-dir', extensions, workspace,
  ], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let serverLog = '';
  server.stdout.on('data', (chunk) => { serverLog += chunk; });
  server.stderr.on('data', (chunk) => { serverLog += chunk; });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const stop = async () => {
    await browser.close().catch(() => {});
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    // code-server's folders (user data, the installed .vsix) go with it.
    if (server.exitCode === null && server.signalCode === null) {
      await new Promise((resolve) => {
        server.once('exit', resolve);
        setTimeout(resolve, 10000);
      });
    }
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(path.join(workspace, '.vscode'), { recursive: true, force: true });
  };
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
    for (let attempt = 0; ; attempt += 1) {
      try {
        await page.goto(url, { timeout: 10000 });
        break;
      } catch (error) {
        if (attempt > 30) throw new Error(`code-server did not answer: ${error.message}\n${serverLog}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    await page.waitForSelector('.monaco-workbench', { timeout: 60000 });

    // The packages, as hpm reports them: the first two are used below.
    const status = JSON.parse(execFileSync(hpmctlPath, ['--workspace', workspace, 'status', '--json'], { env }));
    const [first, second] = status.packages.map((item) => item.name);
    // A row shows `name` and a description starting `mode ·`.
    const shows = (name, mode) => page.waitForFunction(([n, m]) => [...document.querySelectorAll('.monaco-list-row')]
      .some((r) => r.textContent.includes(n) && r.textContent.includes(`${m} ·`)), [name, mode], { timeout: 120000 });

    // "hpm: Switch Workspace Mode" from the command palette, to `mode`.
    const switchFromPalette = async (mode) => {
      await page.keyboard.press('F1');
      await page.keyboard.type('hpm: Switch Workspace Mode');
      await page.waitForSelector('.quick-input-list .monaco-list-row', { timeout: 20000 });
      await page.keyboard.press('Enter');
      await page.waitForSelector(`.quick-input-list .monaco-list-row[aria-label*="${mode}"]`, { timeout: 20000 });
      await page.keyboard.type(mode);
      await page.keyboard.press('Enter');
    };

    // The activity bar's hpm view, and its rows.
    await page.locator('.activitybar [aria-label^="hpm"]').first().click({ timeout: 60000 });
    const row = (name) => page.locator('.monaco-list-row', { hasText: name }).first();
    await row(first).waitFor({ timeout: 60000 });
    await shows(first, 'dev');
    await row(second).waitFor();
    const bar = page.locator('.statusbar-item', { hasText: 'hpm:' }).first();
    await bar.waitFor({ timeout: 60000 });
    if (!/hpm: dev/.test(await bar.textContent())) throw new Error(`status bar says ${await bar.textContent()}`);
    console.log('ok - the tree shows the packages in dev, the status bar says hpm: dev');
    if (fs.existsSync(`${planted}.ran`)) throw new Error('the hpmctl named in the workspace\'s .vscode/settings.json was run');
    console.log('ok - a repository\'s .vscode/settings.json cannot choose hpm.hpmctlPath (a machine setting)');
    if (screenshot) {
      await page.screenshot({ path: screenshot });
    }

    // A switch from the palette.
    await switchFromPalette('prod');
    await page.locator('.statusbar-item', { hasText: 'hpm: prod' }).first().waitFor({ timeout: 120000 });
    await shows(first, 'prod');
    console.log('ok - a switch from the palette changes the status bar and the tree');

    // A fourth mode the workspace names (its registry entries give `qa`
    // sources): offered by the pick, and switched to; then back to prod.
    await switchFromPalette('qa');
    await page.locator('.statusbar-item', { hasText: 'hpm: qa' }).first().waitFor({ timeout: 120000 });
    await shows(first, 'qa');
    await switchFromPalette('prod');
    await page.locator('.statusbar-item', { hasText: 'hpm: prod' }).first().waitFor({ timeout: 120000 });
    console.log('ok - the mode pick offers the modes the workspace names: a fourth one, qa, switches');

    // A click on the status bar item opens the same mode pick; turning the
    // setting hpm.showStatusBar off (in the Settings editor) hides it, live,
    // and turning it on again (in settings.json, edited in the editor) shows
    // it again. (Not checked: turning it on in the Settings editor, which in
    // CI sometimes showed the box ticked while the setting stayed off; and
    // a write to settings.json behind the editor's back, which code-server
    // noticed in 4 runs of 5.)
    await page.locator('.statusbar-item', { hasText: 'hpm: prod' }).first().click({ timeout: 20000 });
    await page.waitForSelector('.quick-input-list .monaco-list-row[aria-label*="staging"]', { timeout: 20000 });
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    await page.keyboard.type('Preferences: Open User Settings');
    // The row of that command, not its (JSON) sibling; a focused row may
    // carry its keybinding's text too.
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Preferences: Open User Settings' })
      .filter({ hasNotText: 'JSON' }).first().click({ timeout: 20000 });
    await page.waitForSelector('.settings-editor', { timeout: 60000 });
    await page.keyboard.type('hpm.showStatusBar');
    const checkbox = page.locator('.setting-item-bool .setting-value-checkbox').first();
    await checkbox.waitFor({ timeout: 60000 });
    if ((await checkbox.getAttribute('aria-checked')) !== 'true') throw new Error('hpm.showStatusBar is not on to begin with');
    await checkbox.click();
    await page.waitForFunction(() => ![...document.querySelectorAll('.statusbar-item')].some((i) => /hpm: /.test(i.textContent)), null, { timeout: 60000 });
    await page.keyboard.press('Control+W');
    const settingsFile = path.join(userData, 'User', 'settings.json');
    const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
    if (settings['hpm.showStatusBar'] !== false) throw new Error(`the Settings editor did not write the setting off: ${JSON.stringify(settings)}`);
    settings['hpm.showStatusBar'] = true;
    await page.keyboard.press('F1');
    await page.keyboard.type('Preferences: Open User Settings (JSON)');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Preferences: Open User Settings (JSON)' }).first().click({ timeout: 20000 });
    const json = page.locator('.editor-instance .monaco-editor .view-lines').first();
    await json.waitFor({ timeout: 60000 });
    await json.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(JSON.stringify(settings, null, 2));
    await page.keyboard.press('Control+S');
    await page.locator('.statusbar-item', { hasText: 'hpm: prod' }).first().waitFor({ timeout: 60000 });
    await page.keyboard.press('Control+W');
    console.log('ok - the status bar item opens the mode pick, and hpm.showStatusBar hides and shows it');

    // The inline "Put in Dev" action on the second package's row.
    await row(second).hover();
    await row(second).locator('.action-label[aria-label="Put in Dev"]').click({ timeout: 20000 });
    await shows(second, 'dev');
    console.log('ok - the inline Put in Dev action puts the package in dev');

    // Those syncs reinstalled packages: the extension offers (never
    // forces) a restart of the Python language server.
    await page.keyboard.press('F1');
    await page.keyboard.type('Notifications: Show Notifications');
    await page.waitForSelector('.quick-input-list .monaco-list-row', { timeout: 20000 });
    await page.keyboard.press('Enter');
    const offer = page.locator('.notifications-center .monaco-list-row', { hasText: 'Restart the Python language server' }).first();
    await offer.waitFor({ timeout: 60000 });
    if (!/Not now/.test(await offer.textContent())) throw new Error(`the offer has no way to decline: ${await offer.textContent()}`);
    console.log('ok - a sync that reinstalled packages offers to restart the Python language server');
    await page.keyboard.press('Escape');

    // A broken hpm.yaml in the Problems panel, at its line.
    const manifest = path.join(workspace, 'hpm.yaml');
    const good = fs.readFileSync(manifest, 'utf8');
    const broken = `${good}bogus_key: 1\n`;
    const line = broken.split('\n').findIndex((text) => text.startsWith('bogus_key')) + 1;
    fs.writeFileSync(manifest, broken);
    await page.keyboard.press('Control+Shift+M');
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'bogus_key' }).first();
    await problem.waitFor({ timeout: 60000 });
    const text = await problem.textContent();
    if (!text.includes(`[Ln ${line},`)) throw new Error(`the problem is not at line ${line}: ${text}`);
    console.log(`ok - a broken hpm.yaml shows in the Problems panel at line ${line}`);
    fs.writeFileSync(manifest, good);
    await page.waitForFunction(() => ![...document.querySelectorAll('.markers-panel .monaco-list-row')].some((r) => /bogus_key/.test(r.textContent)), null, { timeout: 60000 });
    console.log('ok - the problem clears when hpm.yaml is valid again');

    // A job's progress notification cancels it (`hpm_cancel`): uv is held
    // (its pid in HOLD.pid) until the file HPM_TEST_UV_HOLD goes, so the
    // switch is still running when Cancel is clicked; the cancel must kill
    // the held uv while the hold is still there.
    const hold = need('HPM_TEST_UV_HOLD');
    const pidFile = `${hold}.pid`;
    fs.rmSync(pidFile, { force: true });
    fs.writeFileSync(hold, '');
    await switchFromPalette('dev');
    const running = page.locator('.notification-toast', { hasText: 'hpm: switch' }).first();
    await running.waitFor({ timeout: 60000 });
    await waitFor('the held uv to start', () => fs.existsSync(pidFile));
    const uvPid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    await running.locator('.monaco-button', { hasText: 'Cancel' }).first().click({ timeout: 20000 });
    await waitFor(`the held uv (pid ${uvPid}) to be killed`, () => !alive(uvPid));
    await page.waitForFunction(() => ![...document.querySelectorAll('.notification-toast')].some((t) => /hpm: switch/.test(t.textContent)), null, { timeout: 60000 });
    const after = JSON.parse(execFileSync(hpmctlPath, ['--workspace', workspace, 'status', '--json'], { env }));
    fs.unlinkSync(hold);
    if (after.mode !== 'prod') throw new Error(`the cancelled switch left the workspace in ${after.mode}`);
    console.log('ok - Cancel on a job\'s progress notification stops it and the switch is rolled back');

    // "Open the Clone" on a dev package's row opens its folder in a new
    // window (a new page of code-server, on that folder).
    const now = JSON.parse(execFileSync(hpmctlPath, ['--workspace', workspace, 'status', '--json'], { env }));
    const repo = now.packages.find((item) => item.name === second).repo;
    if (!repo) throw new Error(`${second} has no clone in ${JSON.stringify(now)}`);
    const clone = path.resolve(workspace, repo.path);
    const opened = page.context().waitForEvent('page', { timeout: 60000 });
    await row(second).hover();
    await row(second).locator('.action-label[aria-label="Open the Clone"]').click({ timeout: 20000 });
    const window = await opened;
    await window.waitForLoadState();
    const folder = new URL(window.url()).searchParams.get('folder');
    if (!folder || fs.realpathSync(folder) !== fs.realpathSync(clone)) throw new Error(`the new window opened ${window.url()}, not ${clone}`);
    await window.close();
    console.log('ok - Open the Clone opens the package\'s clone in a new window');

    // A multi-root window holding two hpm roots (the workspace, and a
    // second one `hpmctl init` made): a row per root, each with its
    // packages, and a status bar item per root.
    const otherRoot = fs.mkdtempSync(path.join(home, 'second-'));
    fs.writeFileSync(path.join(otherRoot, 'pyproject.toml'), '[project]\nname = "second"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = []\n');
    execFileSync(hpmctlPath, ['init'], { cwd: otherRoot, env, stdio: 'pipe' });
    const twoRoots = path.join(home, 'two.code-workspace');
    fs.writeFileSync(twoRoots, JSON.stringify({ folders: [{ path: workspace }, { path: otherRoot }] }));
    const multi = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await multi.goto(`http://127.0.0.1:${port}/?workspace=${encodeURIComponent(twoRoots)}`, { timeout: 60000 });
    await multi.waitForSelector('.monaco-workbench', { timeout: 60000 });
    // Both folders in the Explorer first: the window has loaded them.
    // code-server now and then opens a `.code-workspace` with none of its
    // folders (seen in CI on a loaded machine; the extension then logs
    // "no hpm.yaml in the window's folders (none)"): that window is
    // reloaded once, said on the output, and must then hold both.
    const explorerShowsBoth = async (timeout) => {
      await multi.keyboard.press('Control+Shift+E');
      for (const root of [workspace, otherRoot]) {
        await multi.locator('.explorer-folders-view .monaco-list-row', { hasText: path.basename(root) }).first().waitFor({ timeout });
      }
    };
    try {
      await explorerShowsBoth(30000);
    } catch (error) {
      console.log(`note - code-server opened ${twoRoots} without its folders (${error.message.split('\n')[0]}); reloading the window once`);
      await multi.reload({ timeout: 60000 });
      await multi.waitForSelector('.monaco-workbench', { timeout: 60000 });
      await explorerShowsBoth(60000);
    }
    await multi.locator('.activitybar [aria-label^="hpm"]').first().click({ timeout: 60000 });
    for (const root of [workspace, otherRoot]) {
      await multi.locator('.monaco-list-row', { hasText: path.basename(root) }).first().waitFor({ timeout: 120000 });
      await multi.locator('.statusbar-item', { hasText: `hpm (${path.basename(root)}):` }).first().waitFor({ timeout: 120000 });
    }
    await multi.locator('.monaco-list-row', { hasText: first }).first().waitFor({ timeout: 120000 });
    await multi.close();
    console.log('ok - a window with two hpm roots shows each root with its packages, and a status bar item per root');

    // A folder without hpm.yaml: the view says what to do.
    const empty = fs.mkdtempSync(path.join(home, 'no-manifest-'));
    const bare = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await bare.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(empty)}`, { timeout: 60000 });
    await bare.waitForSelector('.monaco-workbench', { timeout: 60000 });
    await bare.locator('.activitybar [aria-label^="hpm"]').first().click({ timeout: 60000 });
    await bare.locator('.welcome-view-content', { hasText: 'No hpm.yaml in this workspace' }).first().waitFor({ timeout: 60000 });
    console.log('ok - a folder without hpm.yaml shows the welcome text saying what to run');

    // `hpmctl init` in that folder, from a terminal: the open window picks
    // the new hpm.yaml up without a reload (its status bar item appears,
    // the welcome text goes).
    fs.writeFileSync(path.join(empty, 'pyproject.toml'), '[project]\nname = "later"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = []\n');
    execFileSync(hpmctlPath, ['init'], { cwd: empty, env, stdio: 'pipe' });
    await bare.locator('.statusbar-item', { hasText: 'hpm: dev' }).first().waitFor({ timeout: 120000 });
    await bare.waitForFunction(() => ![...document.querySelectorAll('.welcome-view-content')].some((w) => /No hpm.yaml/.test(w.textContent)), null, { timeout: 60000 });
    console.log('ok - an hpm.yaml made after the window opened starts the extension there, without a reload');

    // hpm.hpmctlPath changed in settings.json applies at once: the
    // extension reconnects through the new program (a wrapper that leaves
    // a mark, then runs the real hpmctl).
    const changedMark = path.join(home, 'changed-hpmctl.ran');
    const changed = path.join(home, 'changed-hpmctl');
    fs.writeFileSync(changed, `#!/bin/sh\ntouch '${changedMark}'\nexec '${hpmctlPath}' "$@"\n`, { mode: 0o755 });
    // Edited in the settings.json editor, as a user does (a write behind
    // the editor's back is not always noticed, see above). A machine
    // setting: code-server keeps it in its Remote (machine) settings, which
    // win over the user's.
    await bare.keyboard.press('F1');
    await bare.keyboard.type('Preferences: Open Remote Settings (JSON)');
    await bare.locator('.quick-input-list .monaco-list-row', { hasText: 'Open Remote Settings (JSON)' }).first().click({ timeout: 20000 });
    const settingsJson = bare.locator('.editor-instance .monaco-editor .view-lines').first();
    await settingsJson.waitFor({ timeout: 60000 });
    await settingsJson.click();
    await bare.keyboard.press('Control+A');
    await bare.keyboard.insertText(JSON.stringify({ 'hpm.hpmctlPath': changed }, null, 2));
    await bare.keyboard.press('Control+S');
    await waitFor('the extension to run the newly set hpmctl', () => fs.existsSync(changedMark));
    await bare.close();
    console.log('ok - a changed hpm.hpmctlPath applies without a reload');


    // No daemon, and none can start (a folder where its socket goes): a new
    // window on the workspace says hpmd is not answering; once the way is
    // clear again, it starts one and shows the packages by itself.
    const socketPath = need('HPM_SOCKET');
    await waitFor('hpmd stopped, its socket gone and a folder in its place', () => {
      try {
        execFileSync(hpmctlPath, ['daemon', 'stop'], { env, stdio: 'pipe' });
      } catch {
        // not running
      }
      if (fs.existsSync(socketPath)) return false;
      try {
        fs.mkdirSync(socketPath);
        return true;
      } catch {
        return false;
      }
    });
    const lost = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await lost.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`, { timeout: 60000 });
    await lost.waitForSelector('.monaco-workbench', { timeout: 60000 });
    await lost.locator('.activitybar [aria-label^="hpm"]').first().click({ timeout: 60000 });
    // Why, line by line: the message and its hint (hpmctl's error spans
    // two lines), each a row.
    for (const text of ['hpmd is not answering', 'hpmd could not start', 'hint: fix what it says']) {
      await lost.locator('.monaco-list-row', { hasText: text }).first().waitFor({ timeout: 120000 });
    }
    console.log('ok - with no daemon to reach or start, the view says hpmd is not answering');
    console.log('ok - the multi-line error saying why shows whole, a row per line with its hint');
    fs.rmdirSync(socketPath);
    await lost.locator('.monaco-list-row', { hasText: first }).first().waitFor({ timeout: 120000 });
    await lost.close();
    console.log('ok - once hpmd can start again, the view reconnects and lists the packages by itself');

    await restrictedMode(browser, home, env);
  } catch (error) {
    // What the page showed when it went wrong, beside the screenshot.
    // The extension's own log (its LogOutputChannel), for the failure.
    const logs = path.join(userData, 'logs');
    const walk = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : [])
      .flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
    for (const file of walk(logs).filter((name) => /hpm/i.test(path.basename(name)))) {
      console.error(`--- ${file}\n${fs.readFileSync(file, 'utf8').slice(-4000)}`);
    }
    if (screenshot) {
      const pages = browser.contexts().flatMap((context) => context.pages());
      for (const [index, open] of pages.entries()) {
        const name = index === 0 ? '-failure.png' : `-failure-${index}.png`;
        await open.screenshot({ path: screenshot.replace(/\.png$/, '') + name }).catch(() => {});
      }
    }
    throw error;
  } finally {
    await stop();
  }
}

// Workspace trust on, the workspace not trusted: VS Code opens it in
// Restricted Mode, where the extension (untrustedWorkspaces: false) must
// not run hpmctl at all; trusting the folder then starts it. A second
// code-server on fresh user data, its hpmctl a wrapper that leaves a mark.
async function restrictedMode(browser, home, env) {
  const userData = path.join(home, 'restricted-user-data');
  const extensions = path.join(home, 'restricted-extensions');
  const mark = path.join(home, 'restricted-hpmctl.ran');
  const wrapper = path.join(home, 'restricted-hpmctl');
  fs.writeFileSync(wrapper, `#!/bin/sh\ntouch '${mark}'\nexec '${hpmctlPath}' "$@"\n`, { mode: 0o755 });
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({
    'hpm.hpmctlPath': wrapper,
    'workbench.startupEditor': 'none',
    'security.workspace.trust.enabled': true,
    'security.workspace.trust.startupPrompt': 'never',
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'workbench.tips.enabled': false,
  }));
  execFileSync(codeServer, ['--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', vsix], { env, stdio: 'pipe' });
  const port = await freePort();
  const server = spawn(codeServer, [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry',
    '--disable-update-check', '--user-data-dir', userData, '--extensions-dir', extensions, workspace,
  ], { env, stdio: 'ignore', detached: true });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
    for (let attempt = 0; ; attempt += 1) {
      try {
        await page.goto(url, { timeout: 10000 });
        break;
      } catch (error) {
        if (attempt > 30) throw new Error(`the second code-server did not answer: ${error.message}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 60000 });
    // Long enough for an enabled extension to activate and call hpmctl
    // (the trusted window below does within seconds).
    await new Promise((resolve) => setTimeout(resolve, 15000));
    if (fs.existsSync(mark)) throw new Error('hpmctl was run in Restricted Mode');
    if (await page.locator('.statusbar-item', { hasText: 'hpm: ' }).count()) throw new Error('the hpm status bar item shows in Restricted Mode');
    console.log('ok - in Restricted Mode the extension runs no hpmctl and shows nothing');

    await page.keyboard.press('F1');
    await page.keyboard.type('Workspaces: Manage Workspace Trust');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Manage Workspace Trust' }).first().click({ timeout: 20000 });
    await page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$/ }).first().click({ timeout: 60000 });
    await page.locator('.statusbar-item', { hasText: 'hpm: ' }).first().waitFor({ timeout: 120000 });
    if (!fs.existsSync(mark)) throw new Error('the trusted window shows hpm without having run hpmctl');
    console.log('ok - trusting the folder starts the extension, which runs hpmctl');
  } finally {
    await page.close().catch(() => {});
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    if (server.exitCode === null && server.signalCode === null) {
      await new Promise((resolve) => {
        server.once('exit', resolve);
        setTimeout(resolve, 10000);
      });
    }
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(`not ok - ${error.stack || error}`);
  process.exit(1);
});
