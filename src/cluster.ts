/**
 * `--workers N`: N serving processes on one listener (node:cluster hands connections to them in
 * turn), each a full Anvil on the shared store. The primary prepares the data directory once
 * (CA, migrations, listener and OCSP responder certificates) so workers never race to create it,
 * holds the admin address before any worker starts, restarts a worker that dies, serves the
 * configured admin address itself (metrics summed over the workers with prom-client's
 * AggregatorRegistry; everything else forwarded to the first worker's private admin listener),
 * and passes SIGHUP and SIGTERM on.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer, request, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from './config/load.js';
import { closeServer, listenerTls, plainBaseUrl } from './http/listeners.js';
import { ensureOcspResponder } from './revocation/ocsp-responder-cert.js';
import { registry } from './ops/metrics.js';
import { openCaAndStore } from './open-data.js';
import { BUNDLED_PROFILES_DIR, startServer, type RunningServer } from './server.js';

type WorkerMessage = { type: 'ready'; directoryUrl: string; rootPemPath: string; revocationBaseUrl: string; adminUrl: string } | { type: 'failed'; error: string };

export const isClusterWorker = (): boolean => cluster.isWorker;

/** In a worker: starts this worker's Anvil and tells the primary where it serves. */
export async function startWorker(config: Config, env: NodeJS.ProcessEnv, log: Logger): Promise<RunningServer> {
  // Constructing one installs prom-client's answer to the primary's metrics requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  try {
    const server = await startServer({ ...config, adminListen: { host: '127.0.0.1', port: 0 } }, env, log, { privateAdmin: true });
    process.send?.({ type: 'ready', directoryUrl: server.directoryUrl, rootPemPath: server.rootPemPath, revocationBaseUrl: server.revocationBaseUrl, adminUrl: server.adminUrl } satisfies WorkerMessage);
    return server;
  } catch (e) {
    process.send?.({ type: 'failed', error: (e as Error).message } satisfies WorkerMessage);
    throw e;
  }
}

export interface Primary {
  directoryUrl: string;
  rootPemPath: string;
  revocationBaseUrl: string;
  /** The admin address this process serves (metrics summed over the workers, the dashboard). */
  adminUrl: string;
  reload(): void;
  close(): Promise<void>;
}

/** In the primary: prepares the data directory, forks the workers and serves the admin address. */
export async function startPrimary(config: Config, env: NodeJS.ProcessEnv, log: Logger): Promise<Primary> {
  const { opened, store } = await openCaAndStore(config, env, log, `${hostname()}:${process.pid}`, config.profilesDir ?? BUNDLED_PROFILES_DIR);
  try {
    if (!config.plainHttp) await listenerTls(config, opened.ca.active, opened.passphrase);
    for (const issuer of opened.ca.issuers) await ensureOcspResponder(config.dataDir, issuer, opened.passphrase, config.ocspResponderValidityMs);
  } finally {
    opened.keys.close();
    await store.close();
  }

  const aggregator = new AggregatorRegistry();
  const ready = new Map<Worker, Extract<WorkerMessage, { type: 'ready' }>>();
  let stopping = false;
  let first: Extract<WorkerMessage, { type: 'ready' }> | undefined;

  const fork = (index: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ ANVIL_WORKER_INDEX: String(index) });
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          ready.set(worker, m);
          if (index === 0 || !first) first = m;
          resolve();
        } else reject(new Error(`worker ${index}: ${m.error}`));
      });
      worker.on('exit', (code, signal) => {
        const was = ready.get(worker);
        ready.delete(worker);
        if (first === was) first = [...ready.values()][0];
        if (stopping) return;
        log.error({ worker: index, code, signal }, 'a worker stopped; starting another');
        if (!was) reject(new Error(`worker ${index} exited (${code ?? signal}) before serving`));
        else setTimeout(() => void fork(index).catch((e) => log.error({ err: (e as Error).message }, 'worker restart failed')), 500).unref();
      });
    });
  const stopWorkers = (): Promise<unknown> => {
    stopping = true;
    return Promise.all(
      [...Object.values(cluster.workers ?? {})].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (!w || w.isDead()) return resolve();
            w.once('exit', () => resolve());
            w.process.kill('SIGTERM');
          }),
      ),
    );
  };

  const admin = createServer((req, res) => {
    if (req.url === '/metrics' && req.method === 'GET') {
      aggregator
        .clusterMetrics()
        .then((text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text))
        .catch((e: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${e.message}\n`));
      return;
    }
    if (!first) return void res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('no worker is serving\n');
    const target = new URL(req.url ?? '/', first.adminUrl);
    const forwarded = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.headersSent ? res.destroy() : res.writeHead(502, { 'content-type': 'text/plain' }).end('worker unavailable\n'));
    req.pipe(forwarded);
  });
  // Bound first: the port is this process's before any worker binds one of its own.
  await listenOn(admin, config.adminListen);
  try {
    await Promise.all(Array.from({ length: config.workers }, (_, i) => fork(i)));
  } catch (e) {
    // One worker that cannot start means none is started: no half-serving primary is left behind.
    await Promise.all([stopWorkers(), closeServer(admin)]);
    throw e;
  }
  const { directoryUrl, rootPemPath, revocationBaseUrl } = first!;
  log.info({ workers: config.workers, directoryUrl }, 'anvil workers are serving');
  return {
    directoryUrl,
    rootPemPath,
    revocationBaseUrl,
    adminUrl: plainBaseUrl(admin),
    reload: () => {
      for (const w of ready.keys()) w.process.kill('SIGHUP');
    },
    close: async () => {
      await Promise.all([closeServer(admin), stopWorkers()]);
    },
  };
}

function listenOn(server: Server, at: { host: string; port: number }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
}
