/**
 * The first five minutes (issue 16 item 7). Without --dns-resolvers the validator finds addresses
 * through the system name service (/etc/hosts included), so the README's quick start — certbot
 * for `localhost` against a freshly started CA — works on one machine (it failed with "no A or
 * AAAA records" when only DNS was asked). On a terminal the server prints human-readable log
 * lines; to a pipe, JSON lines.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certbotIn, standaloneCertonly } from './clients.js';
import { freePort, opensslSans, readText, removeDir, requireTool, serverEntry, startAnvil, tempDir, type AcmeServer } from './harness.js';

describe('the README quick start on one machine', { skip: requireTool('certbot'), timeout: 300_000 }, () => {
  let server: AcmeServer;
  let work = '';
  let http01Port = 0;

  before(async () => {
    work = await tempDir('anvil-quickstart-');
    http01Port = await freePort();
    // No --dns-resolvers: what `npm start` does.
    server = await startAnvil({ dnsResolver: '', http01Port });
  });
  after(async () => {
    await server?.stop();
    await removeDir(work);
  });

  it('certbot certonly --standalone -d localhost gets a certificate (localhost resolves through /etc/hosts)', async () => {
    const certbot = certbotIn(work, server);
    const result = await certbot.run(standaloneCertonly(http01Port, ['localhost']));
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}\n${await readText(certbot.lastLog).catch(() => '')}\n--- server ---\n${server.logs().slice(-4000)}`);
    assert.deepEqual(await opensslSans(path.join(certbot.configDir, 'live', 'localhost', 'cert.pem')), ['DNS:localhost']);
  });

  it('logs to a pipe are JSON lines', () => {
    const lines = server.logs().split('\n').filter((l) => l.startsWith('{'));
    assert.ok(lines.some((l) => JSON.parse(l).msg === 'anvil is serving'), server.logs().slice(0, 2000));
  });
});

describe('logs on a terminal', { skip: requireTool('script'), timeout: 60_000 }, () => {
  it('are human-readable (pino-pretty), not JSON', async () => {
    const dataDir = await tempDir('anvil-tty-');
    const port = await freePort();
    const command = [process.execPath, serverEntry(), 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--admin-listen', '127.0.0.1:0', '--revocation-listen', '127.0.0.1:0']
      .map((a) => `'${a}'`)
      .join(' ');
    // script(1) runs the server on a pseudo-terminal.
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, ANVIL_KEY_PASSPHRASE: 'tty-test' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    try {
      const deadline = Date.now() + 30_000;
      while (!/anvil is serving/.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const line = output.split(/\r?\n/).find((l) => l.includes('anvil is serving'));
      assert.ok(line, `no start line within 30 s:\n${output}`);
      assert.doesNotMatch(line, /^\s*\{/, 'not a JSON line');
      assert.match(line.replace(/\x1b\[[0-9;]*m/g, ''), /INFO.*anvil is serving/, line);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => child.once('close', r));
      await removeDir(dataDir);
    }
  });
});
