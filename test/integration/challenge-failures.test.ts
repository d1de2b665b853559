/**
 * How dns-01 (RFC 8555 §8.4) and tls-alpn-01 (RFC 8737) validations fail, against real peers on
 * loopback: a DNS server with wrong or missing TXT records, one that refuses every query, none at
 * all; a TLS server that knows nothing of ACME, challenge certificates with a wrong, missing or
 * non-critical acmeIdentifier or extra names, and an address where nothing listens. Each failure
 * must carry the ACME problem type README "Challenges" names (`unauthorized`, `incorrectResponse`,
 * `dns`, `tls`, `connection`) and a validationRecord saying what was checked. A positive control
 * per type shows the peers themselves are right.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { assertOk } from '../helpers/acme-assert.js';
import { uniqueName } from '../helpers/acme-flow.js';
import { assertChallengeInvalid, assertChallengeValid, orderChallenge, respondAndSettle, validateOnce } from '../helpers/challenge-flow.js';
import { startRefusingDns } from '../helpers/dns-peers.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { RawAcme } from '../helpers/raw-acme.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { startPlainTlsServer, startTlsAlpnResponder, type TlsAlpnResponder } from '../helpers/tls-alpn-responder.js';
import { freePort } from '../interop/harness.js';

const dnsIdent = (value: string) => ({ type: 'dns', value });

/** base64url(SHA-256(key authorization)), the dns-01 TXT value (§8.4). */
const txtValue = (keyAuthorization: string) => createHash('sha256').update(keyAuthorization).digest('base64url');

describe('dns-01 and tls-alpn-01 failures', () => {
  let dns: TestDnsServer;
  let srv: TestServer;
  let acme: RawAcme;
  let alpn: TlsAlpnResponder;
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    dns = await startDnsServer();
    const tlsPort = await freePort();
    // The responder answers on 127.0.0.1; ordinary TLS servers share the port on other loopback
    // addresses, and 127.0.0.2 has nothing listening. The DNS server decides where a name goes.
    alpn = await startTlsAlpnResponder('127.0.0.1', tlsPort);
    const noAlpn = await startPlainTlsServer('127.0.0.3', tlsPort, 'plain.test', undefined);
    const httpOnly = await startPlainTlsServer('127.0.0.4', tlsPort, 'plain.test', ['http/1.1']);
    srv = await startTestServer({
      '--dns-resolvers': dns.resolver,
      '--tlsalpn01-port': String(tlsPort),
      '--http01-port': String(await freePort()),
      '--validation-timeout': '5s',
    });
    closers.push(() => srv.close(), () => alpn.close(), () => noAlpn.close(), () => httpOnly.close(), () => dns.close());
    acme = await new RawAcme(srv.directoryUrl, srv.rootPem).init();
    assertOk(await acme.register(), 201, srv.directoryUrl);
  });

  after(async () => {
    for (const close of closers) await close();
  });

  const keyAuthz = async (token: string) => `${token}.${await acme.thumbprint()}`;

  describe('dns-01 (RFC 8555 §8.4)', () => {
    test('positive control: the right TXT value validates, and the record names what was queried', async () => {
      const name = uniqueName('dns-ok');
      const pending = await orderChallenge(acme, dnsIdent(name), 'dns-01');
      dns.setTxt(`_acme-challenge.${name}`, [txtValue(await keyAuthz(pending.challenge.token))]);
      const s = await respondAndSettle(acme, pending);
      assertChallengeValid(s);
      assert.equal(s.challenge.validationRecord[0].hostname, `_acme-challenge.${name}`);
    });

    test('a CNAME at _acme-challenge is followed to the TXT record (README: CNAMEs followed)', async () => {
      const name = uniqueName('dns-cname');
      const target = `${name.replace(/\.test$/, '')}.delegated.test`;
      const pending = await orderChallenge(acme, dnsIdent(name), 'dns-01');
      dns.setCname(`_acme-challenge.${name}`, target);
      dns.setTxt(target, [txtValue(await keyAuthz(pending.challenge.token))]);
      const s = await respondAndSettle(acme, pending);
      assertChallengeValid(s);
      assert.deepEqual(s.challenge.validationRecord[0].queried, [`_acme-challenge.${name}`, target]);
    });

    test('no TXT record at all: invalid with unauthorized', async () => {
      const name = uniqueName('dns-none');
      const s = await validateOnce(acme, dnsIdent(name), 'dns-01');
      const error = assertChallengeInvalid(s, 'unauthorized');
      assert.match(error.detail, new RegExp(`_acme-challenge\\.${name.replace(/\./g, '\\.')}`), 'the detail names the queried name');
      assert.equal(s.challenge.validationRecord[0].hostname, `_acme-challenge.${name}`);
    });

    test('a TXT record with another value: invalid with incorrectResponse', async () => {
      const name = uniqueName('dns-wrong');
      dns.setTxt(`_acme-challenge.${name}`, [txtValue('not-the-key-authorization'), 'some other text']);
      const s = await validateOnce(acme, dnsIdent(name), 'dns-01');
      assertChallengeInvalid(s, 'incorrectResponse');
    });

    test('a TXT record holding the key authorization itself instead of its digest: incorrectResponse', async () => {
      const name = uniqueName('dns-raw');
      const pending = await orderChallenge(acme, dnsIdent(name), 'dns-01');
      dns.setTxt(`_acme-challenge.${name}`, [await keyAuthz(pending.challenge.token)]);
      assertChallengeInvalid(await respondAndSettle(acme, pending), 'incorrectResponse');
    });
  });

  describe('dns-01 when DNS itself fails', () => {
    test('a DNS server that answers REFUSED: invalid with dns', async () => {
      const refusing = await startRefusingDns();
      const other = await startTestServer({ '--dns-resolvers': refusing.resolver, '--validation-timeout': '5s' });
      try {
        const client = await new RawAcme(other.directoryUrl, other.rootPem).init();
        assertOk(await client.register(), 201, other.directoryUrl);
        const s = await validateOnce(client, dnsIdent(uniqueName('refused')), 'dns-01');
        const error = assertChallengeInvalid(s, 'dns');
        assert.ok(refusing.queries() > 0, 'the validator asked the refusing server');
        assert.match(error.detail, /REFUSED/i, 'the detail says the query was refused');
      } finally {
        await other.close();
        await refusing.close();
      }
    });

    test('no DNS server listening at the configured resolver: invalid with dns', async () => {
      const other = await startTestServer({ '--dns-resolvers': `127.0.0.1:${await freePort()}`, '--validation-timeout': '8s' });
      try {
        const client = await new RawAcme(other.directoryUrl, other.rootPem).init();
        assertOk(await client.register(), 201, other.directoryUrl);
        const s = await validateOnce(client, dnsIdent(uniqueName('nodns')), 'dns-01');
        assertChallengeInvalid(s, 'dns');
      } finally {
        await other.close();
      }
    });
  });

  describe('tls-alpn-01 (RFC 8737)', () => {
    test('positive control: the right challenge certificate validates', async () => {
      const name = uniqueName('alpn-ok');
      const pending = await orderChallenge(acme, dnsIdent(name), 'tls-alpn-01');
      await alpn.set(name, { keyAuthorization: await keyAuthz(pending.challenge.token) });
      const s = await respondAndSettle(acme, pending);
      assertChallengeValid(s);
      const seen = alpn.handshakes.find((h) => h.servername === name);
      assert.deepEqual(seen?.alpn, ['acme-tls/1'], 'RFC 8737 §3: SNI is the name and acme-tls/1 the only ALPN protocol offered');
    });

    test('positive control for an IP identifier (RFC 8738 §6): SNI is the reverse name, the SAN the address', async () => {
      const pending = await orderChallenge(acme, { type: 'ip', value: '127.0.0.1' }, 'tls-alpn-01');
      await alpn.set('1.0.0.127.in-addr.arpa', { keyAuthorization: await keyAuthz(pending.challenge.token), ips: ['127.0.0.1'] });
      assertChallengeValid(await respondAndSettle(acme, pending));
      assert.ok(alpn.handshakes.some((h) => h.servername === '1.0.0.127.in-addr.arpa'), `SNI used: ${JSON.stringify(alpn.handshakes.map((h) => h.servername))}`);
    });

    test('an ordinary TLS server without ALPN: invalid with tls', async () => {
      const name = uniqueName('alpn-plain');
      dns.setA(name, ['127.0.0.3']);
      const s = await validateOnce(acme, dnsIdent(name), 'tls-alpn-01');
      const error = assertChallengeInvalid(s, 'tls');
      assert.match(error.detail, /acme-tls\/1/, 'the detail says acme-tls/1 was not negotiated');
      assert.equal(s.challenge.validationRecord[0].addressUsed, '127.0.0.3');
    });

    test('an ordinary TLS server speaking only http/1.1: invalid with tls', async () => {
      const name = uniqueName('alpn-h1');
      dns.setA(name, ['127.0.0.4']);
      assertChallengeInvalid(await validateOnce(acme, dnsIdent(name), 'tls-alpn-01'), 'tls');
    });

    test('acmeIdentifier holding the digest of another key authorization: invalid with incorrectResponse', async () => {
      const name = uniqueName('alpn-wrong');
      const pending = await orderChallenge(acme, dnsIdent(name), 'tls-alpn-01');
      await alpn.set(name, { keyAuthorization: `${pending.challenge.token}.someone-elses-thumbprint` });
      assertChallengeInvalid(await respondAndSettle(acme, pending), 'incorrectResponse');
    });

    test('no acmeIdentifier extension: invalid with incorrectResponse', async () => {
      const name = uniqueName('alpn-noext');
      await alpn.set(name, { keyAuthorization: null });
      assertChallengeInvalid(await validateOnce(acme, dnsIdent(name), 'tls-alpn-01'), 'incorrectResponse');
    });

    test('a non-critical acmeIdentifier (RFC 8737 §3: it MUST be critical): invalid with incorrectResponse', async () => {
      const name = uniqueName('alpn-noncrit');
      const pending = await orderChallenge(acme, dnsIdent(name), 'tls-alpn-01');
      await alpn.set(name, { keyAuthorization: await keyAuthz(pending.challenge.token), critical: false });
      assertChallengeInvalid(await respondAndSettle(acme, pending), 'incorrectResponse');
    });

    test('a challenge certificate naming a second DNS name (RFC 8737 §3: exactly one SAN): invalid with unauthorized', async () => {
      const name = uniqueName('alpn-twosan');
      const pending = await orderChallenge(acme, dnsIdent(name), 'tls-alpn-01');
      await alpn.set(name, { keyAuthorization: await keyAuthz(pending.challenge.token), sans: [name, 'other.test'] });
      assertChallengeInvalid(await respondAndSettle(acme, pending), 'unauthorized');
    });

    test('nothing listening at the address: invalid with connection', async () => {
      const name = uniqueName('alpn-dead');
      dns.setA(name, ['127.0.0.2']);
      const s = await validateOnce(acme, dnsIdent(name), 'tls-alpn-01');
      const error = assertChallengeInvalid(s, 'connection');
      assert.match(error.detail, /ECONNREFUSED/);
      assert.deepEqual(s.challenge.validationRecord[0].addressesResolved, ['127.0.0.2']);
    });
  });
});
