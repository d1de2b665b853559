import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { parseDuration, parseHostPort } from '../../src/config/settings.js';

describe('configuration', () => {
  it('uses documented defaults when nothing is set', () => {
    const c = loadConfig({ flags: {}, env: {} });
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8443 });
    assert.equal(c.http01Port, 80);
    assert.equal(c.tlsAlpn01Port, 443);
    assert.deepEqual(c.dnsResolvers, []);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.plainHttp, false);
    assert.equal(c.sqliteDurability, 'group');
  });

  it('applies config file, then environment, then flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-cfg-'));
    try {
      const file = join(dir, 'anvil.yaml');
      writeFileSync(file, 'http01Port: 5001\nlogLevel: debug\ndnsResolvers: [127.0.0.1:53]\n');
      const c = loadConfig({ flags: { '--config': file, '--log-level': 'warn' }, env: { ANVIL_HTTP01_PORT: '5002' } });
      assert.equal(c.http01Port, 5002, 'env beats file');
      assert.equal(c.logLevel, 'warn', 'flag beats file');
      assert.deepEqual(c.dnsResolvers, ['127.0.0.1:53']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const bad: [string, Record<string, string>, Record<string, string>, RegExp][] = [
    ['a non-numeric port from a flag', { '--http01-port': 'eighty' }, {}, /invalid setting http01Port \(from --http01-port\)/],
    ['an out-of-range port from env', {}, { ANVIL_TLSALPN01_PORT: '70000' }, /invalid setting tlsAlpn01Port \(from ANVIL_TLSALPN01_PORT\)/],
    ['a resolver that is not IP:port', { '--dns-resolvers': 'dns.example:53' }, {}, /invalid setting dnsResolvers/],
    ['an unknown log level', { '--log-level': 'loud' }, {}, /invalid setting logLevel.*one of fatal/],
    ['a listen address without port', { '--listen': '127.0.0.1' }, {}, /invalid setting listen/],
    ['a base URL that is not http(s)', { '--base-url': 'ftp://x' }, {}, /invalid setting baseUrl/],
    ['a malformed duration', { '--order-lifetime': '3 weeks' }, {}, /invalid setting orderLifetime/],
    ['plain HTTP without a base URL', { '--plain-http': 'true' }, {}, /plainHttp: --plain-http needs --base-url/],
    ['a TLS certificate without its key', { '--tls-cert': '/x.pem' }, {}, /tlsCert\/tlsKey/],
  ];
  for (const [what, flags, env, message] of bad) {
    it(`refuses ${what} with an error naming the setting and its source`, () => {
      assert.throws(() => loadConfig({ flags, env }), (e: unknown) => e instanceof ConfigError && message.test(e.message));
    });
  }

  it('refuses an unknown key in the config file, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-cfg-'));
    try {
      const file = join(dir, 'anvil.json');
      writeFileSync(file, '{"http01port": 80}');
      assert.throws(() => loadConfig({ flags: { '--config': file }, env: {} }), new RegExp(`config file ${file}: unknown setting http01port`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses durations and host:port forms', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('1.5h'), undefined);
    assert.deepEqual(parseHostPort('[::1]:53'), { host: '::1', port: 53 });
    assert.equal(parseHostPort('[zz]:53'), undefined);
    assert.equal(parseHostPort('host:99999'), undefined);
  });
});

describe('documentation', () => {
  it('README documents every setting with its flag, environment variable and file key', async () => {
    const { readFileSync } = await import('node:fs');
    const { SETTINGS } = await import('../../src/config/settings.js');
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const s of SETTINGS) {
      const row = readme.split('\n').find((line) => line.startsWith(`| ${s.key} |`));
      assert.ok(row, `README has a row for ${s.key}`);
      assert.ok(row.includes(`\`${s.flag}\``) && row.includes(`\`${s.env}\``), `README row for ${s.key} names ${s.flag} and ${s.env}`);
    }
  });
});
