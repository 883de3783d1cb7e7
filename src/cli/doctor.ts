import { accessSync, constants, existsSync, readFileSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import Dockerode from 'dockerode';
import { LEASE_FILE, leaseHolder } from '../adapters/lease';
import type { Config } from '../config';
import { centralDatabasePath } from '../core';
import { pendingMigrations } from '../db/migrate';
import { assertDatabaseFile, openDatabase } from '../db/sqlite';
import { configFor, wholeNumber } from './context';
import { bad, dim, formatTable, ok } from './format';

type Verdict = 'ok' | 'warn' | 'fail';
interface Check {
  check: string;
  verdict: Verdict;
  detail: string;
}

/** Below this much free space a busy host fills its disk within a day or so. */
const LOW_DISK_BYTES = 1024 ** 3;
const DELIVER_URL_TIMEOUT_MS = 3000;

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

function dataDirectory(config: Config): Check {
  if (!existsSync(config.dataDir)) return { check: 'data directory', verdict: 'warn', detail: `${config.dataDir} does not exist yet: start creates it` };
  try {
    accessSync(config.dataDir, constants.W_OK);
  } catch {
    return { check: 'data directory', verdict: 'fail', detail: `${config.dataDir} is not writable by this user` };
  }
  const { bavail, bsize } = statfsSync(config.dataDir);
  const free = bavail * bsize;
  const detail = `${config.dataDir}, ${(free / 1024 ** 3).toFixed(1)} GiB free`;
  return free < LOW_DISK_BYTES ? { check: 'data directory', verdict: 'warn', detail: `${detail}: under 1 GiB` } : { check: 'data directory', verdict: 'ok', detail };
}

function database(config: Config): Check {
  const path = centralDatabasePath(config.dataDir);
  if (!existsSync(path)) return { check: 'database', verdict: 'ok', detail: `none yet at ${path}: start creates it` };
  try {
    assertDatabaseFile(path);
    const db = openDatabase(path, { readonly: true });
    try {
      const pending = pendingMigrations(db);
      return pending.length === 0
        ? { check: 'database', verdict: 'ok', detail: `${path}, schema up to date` }
        : { check: 'database', verdict: 'warn', detail: `${path} needs migration ${pending.join(', ')}: the next start applies it` };
    } finally {
      db.close();
    }
  } catch (error) {
    return { check: 'database', verdict: 'fail', detail: errorText(error) };
  }
}

function lock(config: Config): Check {
  const path = join(config.dataDir, LEASE_FILE);
  if (!existsSync(path)) return { check: 'host lock', verdict: 'ok', detail: 'free: no host runs here' };
  const holder = leaseHolder(config.dataDir);
  if (holder !== undefined) return { check: 'host lock', verdict: 'ok', detail: `held by a running host (pid ${holder})` };
  return { check: 'host lock', verdict: 'warn', detail: `stale (${path} names pid ${readFileSync(path, 'utf8').trim() || '?'}, which is gone): the next start takes it over` };
}

async function runtime(config: Config): Promise<Check> {
  if (config.runtime === 'process' || config.runtime === 'external') return { check: 'runtime', verdict: 'ok', detail: `${config.runtime}: no engine needed` };
  const answers = await new Dockerode({ socketPath: config.dockerSocket }).ping().then(
    () => true,
    () => false,
  );
  if (answers) return { check: 'runtime', verdict: 'ok', detail: `${config.runtime}: the Docker engine answers at ${config.dockerSocket}` };
  return config.runtime === 'docker'
    ? { check: 'runtime', verdict: 'fail', detail: `docker: no engine answers at ${config.dockerSocket} (SWITCHYARD_DOCKER_SOCKET)` }
    : { check: 'runtime', verdict: 'ok', detail: `auto: no Docker engine at ${config.dockerSocket}, agents will run as child processes` };
}

/** Whether start could listen there; a running host holding its own port is not a problem. */
function webhookPort(config: Config, hostRunning: boolean): Promise<Check | undefined> {
  const port = config.webhookPort;
  if (port === undefined || port === 0) return Promise.resolve(undefined);
  if (hostRunning) return Promise.resolve({ check: 'webhook port', verdict: 'ok', detail: `${port}: the running host's` });
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error) => resolve({ check: 'webhook port', verdict: 'fail', detail: `127.0.0.1:${port} is not free: ${errorText(error)}` }));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve({ check: 'webhook port', verdict: 'ok', detail: `127.0.0.1:${port} is free` })));
  });
}

/** Any HTTP answer means the bridge is there; only no answer at all is a failure. */
async function deliverUrl(config: Config): Promise<Check | undefined> {
  const url = config.webhookDeliverUrl;
  if (url === undefined) return config.webhookPort === undefined ? undefined : { check: 'webhook deliver URL', verdict: 'fail', detail: 'not set: --webhook-deliver-url or SWITCHYARD_WEBHOOK_DELIVER_URL' };
  try {
    const response = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(DELIVER_URL_TIMEOUT_MS) });
    return { check: 'webhook deliver URL', verdict: 'ok', detail: `${url} answers (HTTP ${response.status})` };
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    return { check: 'webhook deliver URL', verdict: 'fail', detail: `${url} does not answer: ${errorText(cause ?? error)}` };
  }
}

function provider(config: Config): Check {
  if (config.agentProvider !== 'anthropic') return { check: 'agent provider', verdict: 'ok', detail: `${config.agentProvider} (built in, needs nothing)` };
  return process.env.ANTHROPIC_API_KEY
    ? { check: 'agent provider', verdict: 'ok', detail: 'anthropic, ANTHROPIC_API_KEY set' }
    : { check: 'agent provider', verdict: 'fail', detail: 'anthropic needs ANTHROPIC_API_KEY' };
}

const SHOWN: Record<Verdict, (text: string) => string> = { ok, warn: (text) => dim(text), fail: bad };

/** What would stop `start` from coming up, or a host from doing its work, checked without starting it. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check what start needs: data directory and disk, database and schema, the host lock, the runtime, the webhook port and deliver URL, the agent provider')
    .option('--webhook-port <port>', 'the port start would serve the webhook channel on', wholeNumber(0))
    .option('--webhook-deliver-url <url>', 'the URL start would deliver to')
    .option('--runtime <runtime>', 'the runtime start would use')
    .option('--json', 'print the checks as JSON')
    .action(async (options: { webhookPort?: number; webhookDeliverUrl?: string; runtime?: string; json?: boolean }, command: Command) => {
      const config = configFor(command, { webhookPort: options.webhookPort, webhookDeliverUrl: options.webhookDeliverUrl, runtime: options.runtime });
      const hostRunning = leaseHolder(config.dataDir) !== undefined;
      const checks = [dataDirectory(config), database(config), lock(config), await runtime(config), await webhookPort(config, hostRunning), await deliverUrl(config), provider(config)].filter(
        (check): check is Check => check !== undefined,
      );
      const failed = checks.some((check) => check.verdict === 'fail');
      if (options.json) console.log(JSON.stringify({ ok: !failed, checks }, null, 2));
      else console.log(formatTable(['CHECK', 'VERDICT', 'DETAIL'], checks.map((c) => [c.check, SHOWN[c.verdict](c.verdict), c.detail])));
      if (failed) process.exitCode = 1;
    });
}
