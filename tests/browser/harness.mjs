// Shared pieces of the browser tests: arguments, skipping, Debian's Chromium
// through playwright-core (never a downloaded browser), `likeness serve` as a
// child process, a guard that fails on any console error or warning, and
// screenshots as artefacts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SKIP = 77;
export const CHROMIUM = '/usr/bin/chromium';
// The flags DEVELOPERS.md documents: a headless browser that talks to nobody
// but the local server (no sync, no component updates, no QUIC probes).
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
];

const here = path.dirname(fileURLToPath(import.meta.url));

export function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(SKIP);
}

// --name value pairs; every option is required unless it has a default.
export function parseArgs(spec) {
  const values = { ...spec };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-/g, '_');
    if (!(key in spec) || i + 1 >= argv.length) {
      throw new Error(`unknown or incomplete option ${argv[i]}; expected ${Object.keys(spec).map((k) => '--' + k.replace(/_/g, '-')).join(' ')}`);
    }
    values[key] = argv[i + 1];
  }
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) throw new Error(`missing --${key.replace(/_/g, '-')}`);
  }
  return values;
}

// playwright-core is loaded only after the skip checks, so that a machine
// without `npm ci` skips with a message instead of failing on the import.
export async function loadPlaywright() {
  if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} is absent (apt-get install chromium, or scripts/setup.sh test)`);
  const modulePath = path.join(here, 'node_modules', 'playwright-core', 'index.mjs');
  if (!fs.existsSync(modulePath)) skip(`${path.join(here, 'node_modules')} is absent (cd tests/browser && npm ci, or scripts/setup.sh test)`);
  return import(modulePath);
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Runs a command to completion; throws with its output when it fails.
export function run(command, args, { timeoutMs = 300000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal || 'exit ' + code}):\n${stderr || stdout}`));
    });
  });
}

// Starts `likeness serve` on a free port and returns its URL (the first
// http:// address it prints) and a stop() that ends it.
export async function startServer(likeness, library) {
  const child = spawn(likeness, ['serve', '--library', library, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`likeness serve printed no URL within 60 s:\n${output}`)), 60000);
    const look = (data) => {
      output += data;
      const match = /http:\/\/[^\s"'<>]+/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[0].replace(/\/$/, ''));
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`likeness serve exited (${code}):\n${output}`)); });
  });
  child.removeAllListeners('exit');
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  return {
    url,
    log: () => log,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('exit', () => { clearTimeout(killer); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

// A fresh profile in a temp folder for every run: no state leaks between runs.
export async function launchBrowser(playwright, viewport = { width: 1280, height: 800 }) {
  const profile = tempDir('likeness-chromium-');
  const context = await playwright.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Records every console error/warning, uncaught page error and failed
// request of a page; check() throws listing them.
export function guardConsole(page, allowedOrigin) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      const where = message.location();
      problems.push(`console ${message.type()}: ${message.text()} (${where.url}:${where.lineNumber})`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A navigation away aborts pending lazy image loads; that is not a fault.
    if (request.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
  });
  // Nothing may be fetched from outside the local server.
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(allowedOrigin) && !url.startsWith('blob:') && !url.startsWith('data:')) {
      problems.push(`request outside the local server: ${url}`);
    }
  });
  return {
    problems,
    // Chromium logs every 4xx answer as a console error; a step that provokes
    // one on purpose takes exactly that one entry back (and fails if it is
    // not there: the request did not fail as expected).
    async forgiveFailedRequest(status, urlPart) {
      const find = () => problems.findIndex((p) => p.includes(`status of ${status}`) && p.includes(urlPart));
      // The console entry can arrive a little after the response.
      for (let waited = 0; find() < 0 && waited < 2000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      const index = find();
      if (index < 0) throw new Error(`expected a console entry for the ${status} answer of ${urlPart}`);
      problems.splice(index, 1);
    },
    check(step) {
      if (problems.length) throw new Error(`${step}: ${problems.length} console/page problem(s):\n  ${problems.join('\n  ')}`);
    },
  };
}

export function artifactWriter(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return async (page, name, options = {}) => {
    const file = path.join(dir, `${name}.png`);
    await page.screenshot({ path: file, ...options });
    console.log(`screenshot: ${file}`);
    return file;
  };
}

// Steps print their name and time, so that a failure says where it happened.
export async function step(name, fn) {
  const start = Date.now();
  process.stdout.write(`- ${name} ... `);
  try {
    const result = await fn();
    console.log(`ok (${Date.now() - start} ms)`);
    return result;
  } catch (error) {
    console.log('FAILED');
    throw error;
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
