/**
 * A stapling relying party accepts what Anvil serves (issue 16 item 1): nginx (Debian) with
 * `ssl_stapling on; ssl_stapling_verify on;` serves a certificate Anvil issued with the default
 * settings, fetches its OCSP answer from the http:// URL in the certificate (the revocation
 * listener that is on by default), verifies it and staples it; `openssl s_client -status` shows a
 * successful, good staple whose nextUpdate is not past the certificate's notAfter.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { issue, pemBlocks, uniqueName } from '../helpers/acme-flow.js';
import { startHttp01Responder, type Http01Responder } from '../helpers/http01-responder.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { revocationUrlsOf } from '../helpers/revocation-http.js';
import { describeRun, findExecutable, freePort, readText, removeDir, requireTool, run, startAnvil, tempDir, type AcmeServer, type RunResult } from './harness.js';

// Debian installs nginx in /usr/sbin, which is not on every user's PATH.
const NGINX = findExecutable('nginx') ?? '/usr/sbin/nginx';
const skip = (NGINX === '/usr/sbin/nginx' && !existsSync(NGINX) && requireTool('nginx')) || requireTool('openssl');

describe('nginx OCSP stapling of an Anvil certificate', { skip, timeout: 180_000 }, () => {
  let dnsServer: TestDnsServer;
  let responder: Http01Responder;
  let server: AcmeServer;
  let work = '';
  let nginx: ChildProcess | undefined;
  let nginxLog = '';
  let port = 0;
  let name = '';
  let leafPem = '';

  before(async () => {
    work = await tempDir('anvil-nginx-');
    dnsServer = await startDnsServer();
    responder = await startHttp01Responder();
    server = await startAnvil({ dnsResolver: dnsServer.resolver, http01Port: responder.port });
    const rootPem = await readText(server.rootPemPath);
    const acme = await new RawAcme(server.directoryUrl, rootPem).init();
    assert.equal((await acme.register()).status, 201);
    name = uniqueName('nginx');
    const issued = await issue(acme, responder, [name]);
    const [leaf, intermediate] = pemBlocks(issued.chainPem) as [string, string];
    leafPem = leaf;
    await writeFile(path.join(work, 'fullchain.pem'), `${leaf}\n${intermediate}\n`);
    await writeFile(path.join(work, 'key.pem'), issued.key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
    await writeFile(path.join(work, 'issuer-and-root.pem'), `${intermediate}\n${rootPem}`);
    port = await freePort();
    await writeFile(
      path.join(work, 'nginx.conf'),
      [
        'daemon off;',
        'master_process off;',
        `pid ${work}/nginx.pid;`,
        `error_log ${work}/error.log info;`,
        'events { worker_connections 64; }',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${work}/${t}_temp;`),
        '  server {',
        `    listen 127.0.0.1:${port} ssl;`,
        `    server_name ${name};`,
        `    ssl_certificate ${work}/fullchain.pem;`,
        `    ssl_certificate_key ${work}/key.pem;`,
        '    ssl_stapling on;',
        '    ssl_stapling_verify on;',
        `    ssl_trusted_certificate ${work}/issuer-and-root.pem;`,
        '    location / { return 200 "ok\\n"; }',
        '  }',
        '}',
      ].join('\n'),
    );
    nginx = spawn(NGINX, ['-p', work, '-c', path.join(work, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    nginx.stdout?.on('data', (c: Buffer) => (nginxLog += c.toString()));
    nginx.stderr?.on('data', (c: Buffer) => (nginxLog += c.toString()));
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx!.once('exit', resolve));
      nginx.kill('SIGTERM');
      await exited;
    }
    await server?.stop();
    await responder?.close();
    await dnsServer?.close();
    await removeDir(work);
  });

  const sClient = (): Promise<RunResult> =>
    run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name, '-status', '-CAfile', server.rootPemPath], { timeoutMs: 15_000 });

  it('the certificate names an http:// OCSP responder', () => {
    assert.match(revocationUrlsOf(leafPem).ocsp, /^http:\/\/127\.0\.0\.1:\d+\/ocsp$/);
  });

  it('openssl s_client -status shows a successful, good staple within the certificate\'s life, and the chain verifies', async () => {
    // nginx fetches the staple lazily: the first handshakes carry none.
    let result: RunResult | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      result = await sClient();
      if (/OCSP Response Status: successful/.test(result.stdout)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const why = `${describeRun(result!)}\n--- nginx ---\n${nginxLog}\n${await readText(path.join(work, 'error.log')).catch(() => '')}`;
    assert.match(result!.stdout, /OCSP Response Status: successful/, why);
    assert.match(result!.stdout, /Cert Status: good/, why);
    assert.match(result!.stdout, /Verify return code: 0 \(ok\)/, why);
    const next = /Next Update: (.+)/.exec(result!.stdout)?.[1];
    assert.ok(next, why);
    assert.ok(new Date(next) <= new Date(new X509Certificate(leafPem).validTo), `staple nextUpdate ${next} is not after notAfter ${new X509Certificate(leafPem).validTo}`);
    assert.doesNotMatch(await readText(path.join(work, 'error.log')), /OCSP.*(error|invalid|failed)/i, why);
  });
});
