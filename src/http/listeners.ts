/** The HTTP(S) listeners: binding, the default base URL, and bounded graceful close. */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import type { Issuer } from '../ca/issuer.js';
import { ensureServerTls } from '../ca/server-tls.js';
import type { Config } from '../config/load.js';

const DRAIN_MS = 10_000;

/** The ACME listener: HTTPS with the operator's or a self-issued certificate, or plain HTTP. */
export async function listenAcme(config: Config, issuer: Issuer, passphrase: string): Promise<Server> {
  let server: Server;
  if (config.plainHttp) {
    server = createHttpServer();
  } else {
    const tls = await listenerTls(config, issuer, passphrase);
    server = createHttpsServer({ cert: tls.certPem, key: tls.keyPem, passphrase });
  }
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  await bind(server, config.listen);
  return server;
}

/** The ACME listener's certificate and key: the operator's, or Anvil's own, issued when missing or due. */
export async function listenerTls(config: Config, issuer: Issuer, passphrase: string): Promise<{ certPem: string; keyPem: string }> {
  if (config.tlsCert) return { certPem: readFileSync(config.tlsCert, 'utf8'), keyPem: readFileSync(config.tlsKey!, 'utf8') };
  return ensureServerTls(config.dataDir, issuer, passphrase, tlsHosts(config));
}

/** A plain-HTTP listener; `exclusive` keeps a cluster worker's listener its own (not shared through the primary). */
export async function listenPlain(at: { host: string; port: number }, exclusive = false): Promise<Server> {
  const server = createHttpServer();
  await bind(server, at, exclusive);
  return server;
}

export function plainBaseUrl(server: Server): string {
  const a = server.address() as AddressInfo;
  return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
}

export function defaultBaseUrl(config: Config, server: Server): string {
  const scheme = config.plainHttp ? 'http' : 'https';
  let host = config.listen.host;
  if (host === '0.0.0.0' || host === '::') host = 'localhost';
  if (isIP(host) === 6) host = `[${host}]`;
  return `${scheme}://${host}:${(server.address() as AddressInfo).port}`;
}

/** Stops accepting, lets in-flight requests finish (bounded), then cuts what is left. */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const drained = await Promise.race([closed.then(() => true), delay(DRAIN_MS).then(() => false)]);
  if (!drained) server.closeAllConnections();
}

async function bind(server: Server, at: { host: string; port: number }, exclusive = false): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: at.port, host: at.host, exclusive }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Names the self-issued listener certificate covers beyond localhost/127.0.0.1/::1. */
function tlsHosts(config: Config): string[] {
  const hosts: string[] = [];
  if (config.baseUrl) hosts.push(new URL(config.baseUrl).hostname.replace(/^\[|\]$/g, ''));
  const h = config.listen.host;
  if (h !== '0.0.0.0' && h !== '::') hosts.push(h);
  return hosts;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
