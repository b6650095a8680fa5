// How the extension talks to hpmd: JSON-RPC over HTTP on the daemon's Unix
// socket for calls (`http.request({ socketPath })`), and a WebSocket on the
// same socket (the `ws` package: `ws+unix://<socket>:/`; Node's built-in
// WebSocket rejects that scheme) for `hpm_subscribeEvents`, whose
// notifications are `hpm_event`. The socket path and the daemon's start
// come from `hpmctl` (`daemon status --json`, `daemon start`), so the rule
// for where the socket lives is hpm's alone.
// @ts-check
'use strict';

const { execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const WebSocket = require('ws');

/** An error hpmd answered: JSON-RPC `code`, `message` and hpm's `data`
 * (`kind`, `hint`, `problems`). */
class HpmError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data || {};
  }
}

/** Runs `hpmctl ARGS --json`; resolves with its decoded stdout. */
function hpmctl(executable, args, options = {}) {
  return new Promise((resolve, reject) => {
    execFile(executable, [...args, '--json'], { timeout: options.timeout || 60000 }, (error, stdout, stderr) => {
      let answer = null;
      try {
        answer = stdout.trim() ? JSON.parse(stdout) : null;
      } catch {
        answer = null;
      }
      if (error) {
        const failure = answer && answer.error;
        if (failure) {
          reject(new HpmError(failure.code, failure.message, failure));
        } else if (error.code === 'ENOENT') {
          reject(new HpmError(0, `cannot run \`${executable}\``, {
            hint: 'install hpm (uv tool install hpmctl) or set "hpm.hpmctlPath"',
          }));
        } else {
          reject(new HpmError(0, (stderr || error.message).trim(), {}));
        }
        return;
      }
      resolve(answer);
    });
  });
}

/** One JSON-RPC call over HTTP on `socket`. */
function call(socket, method, params = []) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  return new Promise((resolve, reject) => {
    const request = http.request({
      socketPath: socket,
      path: '/',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => {
        let answer;
        try {
          answer = JSON.parse(text);
        } catch {
          reject(new HpmError(0, `hpmd answered something that is not JSON: ${text.slice(0, 200)}`));
          return;
        }
        if (answer.error) {
          reject(new HpmError(answer.error.code, answer.error.message, answer.error.data));
        } else {
          resolve(answer.result);
        }
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** The daemon's socket, from `hpmctl daemon status --json`, and whether
 * a daemon answers there. */
async function daemonStatus(executable) {
  const status = await hpmctl(executable, ['daemon', 'status']);
  return { socket: status.socket, running: Boolean(status.running) };
}

/**
 * A live connection to hpmd: subscribes to the events, reconnects forever
 * with a capped backoff (starting the daemon through `hpmctl daemon start`
 * when its socket is missing), and says when the status must be re-read:
 * after each (re)connection and on any gap in `seq` (which restarts with
 * each daemon). Callbacks: `onEvent(event)`, `onResync(reason)`,
 * `onState('connected' | 'disconnected')`.
 */
class Connection {
  /**
   * @param {{
   *   hpmctl: string,
   *   onEvent?: (event: any) => void,
   *   onResync?: (reason: string) => void,
   *   onState?: (state: 'connected' | 'disconnected') => void,
 *   onFailure?: (error: { message: string, data?: any } | null) => void,
   *   maxBackoffMs?: number,
   *   log?: (line: string) => void,
   * }} options
   */
  constructor({ hpmctl: executable, onEvent, onResync, onState, onFailure, maxBackoffMs = 10000, log = (_line) => {} }) {
    this.executable = executable;
    this.onEvent = onEvent || (() => {});
    this.onResync = onResync || (() => {});
    this.onState = onState || (() => {});
    // Why hpmd cannot be reached (the error of the last attempt), or null
    // once it is.
    this.onFailure = onFailure || (() => {});
    this.maxBackoffMs = maxBackoffMs;
    this.log = log;
    this.socket = null;
    this.attempts = 0;
    this.lastSeq = null;
    this.ws = null;
    this.closed = false;
    this.timer = null;
  }

  /** Connects (and keeps reconnecting until `close`). */
  async start() {
    this.closed = false;
    try {
      let { socket, running } = await daemonStatus(this.executable);
      if (!running || !fs.existsSync(socket)) {
        this.log(`hpm: starting hpmd (${this.executable} daemon start)`);
        await hpmctl(this.executable, ['daemon', 'start']);
        ({ socket } = await daemonStatus(this.executable));
      }
      this.socket = socket;
      await this.subscribe();
    } catch (error) {
      this.log(`hpm: cannot reach hpmd: ${error.message}`);
      this.onFailure(error);
      // Also when it was never reached: the view then says so.
      this.onState('disconnected');
      this.retry();
    }
  }

  subscribe() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws+unix://${this.socket}:/`);
      this.ws = ws;
      let subscribed = false;
      ws.on('open', () => {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hpm_subscribeEvents', params: [] }));
      });
      ws.on('message', (data) => {
        let message;
        try {
          message = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (message.id === 1 && !subscribed) {
          subscribed = true;
          this.attempts = 0;
          this.lastSeq = null;
          this.onState('connected');
          this.onFailure(null);
          this.onResync('connected');
          resolve(undefined);
          return;
        }
        if (message.method === 'hpm_event' && message.params) {
          this.receive(message.params.result);
        }
      });
      ws.on('close', () => {
        if (this.ws === ws) {
          this.ws = null;
          this.onState('disconnected');
          this.retry();
        }
        if (!subscribed) {
          reject(new Error('hpmd closed the connection before subscribing'));
        }
      });
      ws.on('error', (error) => {
        this.log(`hpm: event stream: ${error.message}`);
      });
    });
  }

  /** One event: a gap in `seq` means some were missed. */
  receive(event) {
    if (!event || typeof event.seq !== 'number') {
      return;
    }
    if (this.lastSeq !== null && event.seq !== this.lastSeq + 1) {
      this.onResync('gap');
    }
    this.lastSeq = event.seq;
    this.onEvent(event);
  }

  retry() {
    if (this.closed || this.timer) {
      return;
    }
    this.attempts += 1;
    const delay = Math.min(this.maxBackoffMs, 250 * 2 ** Math.min(this.attempts, 10));
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) {
        this.start();
      }
    }, delay);
  }

  /** A call on the current socket. */
  call(method, params) {
    if (!this.socket) {
      return Promise.reject(new HpmError(0, 'not connected to hpmd', { hint: 'run "hpm: Restart Daemon"' }));
    }
    return call(this.socket, method, params);
  }

  close() {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
  }
}

module.exports = { Connection, HpmError, call, hpmctl, daemonStatus };
