/**
 * Strict input everywhere (issue 16 item 3). Every known JSON field of every ACME payload has its
 * exact type (a wrong type is `malformed` naming the field); every DER input with bytes after its
 * outer structure is refused (CSR → badCSR, OCSP request → malformedRequest, revokeCert certificate
 * → malformed); and property tests (fast-check, fixed seed, bounded runs) over JWS envelopes,
 * payload fields, CSRs, OCSP requests and ARI certificate ids assert: never a 5xx, never a 2xx for
 * input outside the grammar, and the right problem type or OCSP status.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { assertProblem } from '../helpers/acme-assert.js';
import { startAcmeFixture, type AcmeFixture } from '../helpers/acme-fixture.js';
import { dns, issue, makeCsr, newOrder, pemBlocks, pemToBase64url, readyOrder, uniqueName } from '../helpers/acme-flow.js';
import { ariCertId } from '../helpers/ari-cert-id.js';
import { certIdOf, ocspRequest, OCSPResponseStatus, parseOcspResponse } from '../helpers/ocsp-wire.js';
import { httpsRequest, newAccountKey, RawAcme, type HttpResponse } from '../helpers/raw-acme.js';
import { binaryRequest, ocspGetUrl, ocspPost, type BinaryResponse } from '../helpers/revocation-http.js';

/** Fixed seed and bounded runs: the same cases on every CI run, a few seconds in all. */
const FC = { seed: 0x16_16, numRuns: 40, endOnFailure: true } as const;

let fx: AcmeFixture;
let leafPem = '';
let issuerPem = '';
let chainPem = '';
/** A ready order and a CSR that matches it, for finalize cases (a refused CSR leaves the order ready). */
let ready: { url: string; order: any; csrDer: Buffer };

before(async () => {
  fx = await startAcmeFixture({ '--rate-limit-accounts-per-ip': 'off' });
  const issued = await issue(fx.acme, fx.responder, [uniqueName('strict')]);
  chainPem = issued.chainPem;
  [leafPem, issuerPem] = pemBlocks(issued.chainPem) as [string, string];
  const name = uniqueName('strict-ready');
  const { url, order } = await readyOrder(fx.acme, fx.responder, dns(name));
  ready = { url, order, csrDer: Buffer.from((await makeCsr([name])).csr, 'base64url') };
});

after(() => fx?.close());

const dir = () => fx.srv.directoryUrl;
const fresh = () => new RawAcme(fx.srv.directoryUrl, fx.srv.rootPem, newAccountKey()).init();

/** Any answer to hostile input: not a 5xx; a problem document when it is a 4xx. */
function assertNoServerError(res: HttpResponse, what: string): void {
  assert.ok(res.status < 500, `${what}: never a 5xx, got ${res.status}: ${res.body}`);
}

/** Values of every JSON type but the named one. */
function wrongTypeValues(type: 'string' | 'boolean' | 'array' | 'object'): unknown[] {
  const all: Record<string, unknown[]> = {
    string: ['true', '', 'mailto:a@example.com'],
    boolean: [true, false],
    number: [0, 1, -1.5],
    null: [null],
    array: [[], ['x']],
    object: [{}, { a: 1 }],
  };
  return Object.entries(all)
    .filter(([t]) => t !== type)
    .flatMap(([, v]) => v);
}

describe('every JSON field has its exact type', () => {
  test('newAccount "onlyReturnExisting": "true" (a string) is malformed and creates no account', async () => {
    const c = await fresh();
    const problem = assertProblem(await c.post(c.directory.newAccount, { onlyReturnExisting: 'true' }, { useJwk: true }), 400, 'malformed', dir());
    assert.match(problem.detail, /"onlyReturnExisting" must be a boolean/);
    assertProblem(await c.post(c.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true }), 400, 'accountDoesNotExist', dir());
  });

  const fields: { kind: string; field: string; type: 'string' | 'boolean' | 'array' | 'object'; send(value: unknown): Promise<HttpResponse> }[] = [
    { kind: 'newAccount', field: 'onlyReturnExisting', type: 'boolean', send: async (v) => (await fresh()).post(fx.acme.directory.newAccount, { onlyReturnExisting: v }, { useJwk: true }) },
    { kind: 'newAccount', field: 'termsOfServiceAgreed', type: 'boolean', send: async (v) => (await fresh()).post(fx.acme.directory.newAccount, { termsOfServiceAgreed: v }, { useJwk: true }) },
    { kind: 'newAccount', field: 'contact', type: 'array', send: async (v) => (await fresh()).post(fx.acme.directory.newAccount, { termsOfServiceAgreed: true, contact: v }, { useJwk: true }) },
    { kind: 'newAccount', field: 'externalAccountBinding', type: 'object', send: async (v) => (await fresh()).post(fx.acme.directory.newAccount, { termsOfServiceAgreed: true, externalAccountBinding: v }, { useJwk: true }) },
    { kind: 'account update', field: 'contact', type: 'array', send: (v) => fx.acme.post(fx.acme.kid!, { contact: v }) },
    { kind: 'account update', field: 'status', type: 'string', send: (v) => fx.acme.post(fx.acme.kid!, { status: v }) },
    { kind: 'newOrder', field: 'identifiers', type: 'array', send: (v) => fx.acme.post(fx.acme.directory.newOrder, { identifiers: v }) },
    { kind: 'newOrder', field: 'profile', type: 'string', send: (v) => newOrder(fx.acme, dns(uniqueName('p')), { profile: v }) },
    { kind: 'newOrder', field: 'notBefore', type: 'string', send: (v) => newOrder(fx.acme, dns(uniqueName('nb')), { notBefore: v }) },
    { kind: 'newOrder', field: 'notAfter', type: 'string', send: (v) => newOrder(fx.acme, dns(uniqueName('na')), { notAfter: v }) },
    { kind: 'newOrder', field: 'replaces', type: 'string', send: (v) => newOrder(fx.acme, dns(uniqueName('r')), { replaces: v }) },
    { kind: 'finalize', field: 'csr', type: 'string', send: (v) => fx.acme.post(ready.order.finalize, { csr: v }) },
    { kind: 'revokeCert', field: 'certificate', type: 'string', send: (v) => fx.acme.post(fx.acme.directory.revokeCert, { certificate: v }) },
  ];
  for (const f of fields) {
    test(`${f.kind} "${f.field}" of any type but ${f.type} is malformed naming the field`, async () => {
      // A string where an array is wanted would otherwise also be a plausible typo: include it.
      for (const value of wrongTypeValues(f.type)) {
        if (f.type === 'string' && f.field === 'status' && typeof value === 'string') continue;
        const res = await f.send(value);
        const problem = assertProblem(res, 400, 'malformed', dir());
        assert.match(problem.detail, new RegExp(`"${f.field}" must be`), `${f.kind} ${f.field}=${JSON.stringify(value)}: ${res.body}`);
      }
    });
  }

  test('newOrder identifier members must be strings: {"type": "dns", "value": 1} is malformed', async () => {
    const res = await fx.acme.post(fx.acme.directory.newOrder, { identifiers: [{ type: 'dns', value: 1 }] });
    assert.match(assertProblem(res, 400, 'malformed', dir()).detail, /"identifiers" must be an array of identifier objects/);
  });

  test('fields this CA does not know are ignored (a newer client\'s extension does not break newOrder)', async () => {
    const res = await newOrder(fx.acme, dns(uniqueName('ext')), { 'x-extension': { anything: [1, 2] } });
    assert.equal(res.status, 201, res.body);
  });
});

describe('DER inputs with bytes after the outer structure are refused', () => {
  test('a CSR with one garbage byte appended is badCSR and issues nothing (the order stays ready)', async () => {
    for (const tail of [Buffer.from([0]), Buffer.from('garbage'), ready.csrDer.subarray(0, 8)]) {
      const res = await fx.acme.post(ready.order.finalize, { csr: Buffer.concat([ready.csrDer, tail]).toString('base64url') });
      assert.match(assertProblem(res, 400, 'badCSR', dir()).detail, /bytes follow the outer structure/, res.body);
    }
    const order = await fx.acme.post(ready.url, undefined);
    assert.equal(order.json.status, 'ready', order.body);
  });

  test('an OCSP request with trailing bytes answers malformedRequest (POST and GET)', async () => {
    const der = ocspRequest([certIdOf(leafPem, issuerPem)]);
    const good = parseOcspResponse((await ocspPost(`${fx.srv.baseUrl}/ocsp`, der, fx.srv.rootPem)).body);
    assert.equal(good.responseStatus, OCSPResponseStatus.successful, 'the same request without the tail is answered');
    const padded = Buffer.concat([der, Buffer.from([0, 0])]);
    for (const res of [await ocspPost(`${fx.srv.baseUrl}/ocsp`, padded, fx.srv.rootPem), await binaryRequest(ocspGetUrl(`${fx.srv.baseUrl}/ocsp`, padded), { ca: fx.srv.rootPem })]) {
      assert.equal(res.status, 200);
      assert.equal(parseOcspResponse(res.body).responseStatus, OCSPResponseStatus.malformedRequest);
    }
  });

  test('revokeCert with a certificate followed by trailing bytes is malformed and revokes nothing', async () => {
    const der = Buffer.from(pemToBase64url(leafPem), 'base64url');
    const res = await fx.acme.post(fx.acme.directory.revokeCert, { certificate: Buffer.concat([der, Buffer.from([5])]).toString('base64url') });
    assert.match(assertProblem(res, 400, 'malformed', dir()).detail, /bytes follow the outer structure/);
    const ocsp = parseOcspResponse((await ocspPost(`${fx.srv.baseUrl}/ocsp`, ocspRequest([certIdOf(leafPem, issuerPem)]), fx.srv.rootPem)).body);
    assert.equal(ocsp.basic?.singles[0]?.status, 'good', chainPem.slice(0, 0));
  });
});

describe('property tests (fast-check, fixed seed, bounded runs)', () => {
  test('JWS envelopes: any JSON or bytes as a body gets a 4xx problem document, never 2xx or 5xx', async () => {
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ protected: fc.string(), payload: fc.string(), signature: fc.string() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('newAccount', 'newOrder', 'revokeCert'), async (text, resource) => {
        const res = await fx.acme.postRaw(fx.acme.directory[resource], text);
        assertNoServerError(res, `body ${JSON.stringify(text).slice(0, 80)}`);
        assert.ok(res.status >= 400, `a body that is no signed JWS is refused: ${res.status} ${res.body}`);
        assert.match(String(res.json?.type), /^urn:ietf:params:acme:error:(malformed|badNonce|badSignatureAlgorithm|unauthorized|accountDoesNotExist)$/, res.body);
      }),
      FC,
    );
  });

  test('payload fields: a known newAccount/newOrder field of the wrong JSON type is malformed, whatever its value', async () => {
    const fieldTypes: Record<string, string> = { onlyReturnExisting: 'boolean', termsOfServiceAgreed: 'boolean', contact: 'array', identifiers: 'array', profile: 'string', notBefore: 'string', notAfter: 'string' };
    const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
    const arb = fc.record({ field: fc.constantFrom(...Object.keys(fieldTypes)), value: fc.jsonValue() }).filter(({ field, value }) => typeOf(value) !== fieldTypes[field]);
    await fc.assert(
      fc.asyncProperty(arb, async ({ field, value }) => {
        const isAccount = ['onlyReturnExisting', 'termsOfServiceAgreed', 'contact'].includes(field);
        const res = isAccount
          ? await (await fresh()).post(fx.acme.directory.newAccount, { termsOfServiceAgreed: true, [field]: value }, { useJwk: true })
          : await fx.acme.post(fx.acme.directory.newOrder, { identifiers: [{ type: 'dns', value: uniqueName('pf') }], [field]: value });
        assertNoServerError(res, `${field}=${JSON.stringify(value)}`);
        assert.equal(res.status, 400, `${field}=${JSON.stringify(value)}: ${res.body}`);
        assert.equal(res.json?.type, 'urn:ietf:params:acme:error:malformed', res.body);
        assert.match(res.json.detail, new RegExp(`"${field}" must be`));
      }),
      FC,
    );
  });

  test('CSRs: appended bytes, a flipped byte or a truncation is badCSR; the order stays ready', async () => {
    const der = ready.csrDer;
    const mutation = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => Buffer.concat([der, tail])),
      fc.record({ at: fc.nat({ max: der.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }).map(({ at, xor }) => {
        const copy = Buffer.from(der);
        copy[at]! ^= xor;
        return copy;
      }),
      fc.nat({ max: der.length - 1 }).map((n) => der.subarray(0, n)),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (bytes) => {
        const res = await fx.acme.post(ready.order.finalize, { csr: bytes.toString('base64url') });
        assertNoServerError(res, 'mutated CSR');
        assert.equal(res.status, 400, `a mutated CSR is refused: ${res.status} ${res.body}`);
        assert.match(String(res.json?.type), /:(badCSR|badPublicKey|malformed)$/, res.body);
      }),
      FC,
    );
    assert.equal((await fx.acme.post(ready.url, undefined)).json.status, 'ready');
  });

  test('OCSP requests: appended bytes and arbitrary bytes answer an OCSPResponse that is not successful, in HTTP 200', async () => {
    const der = Buffer.from(ocspRequest([certIdOf(leafPem, issuerPem)]));
    const input = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => ({ bytes: Buffer.concat([der, tail]), garbage: true })),
      fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => ({ bytes: Buffer.from(b), garbage: true })),
      fc.nat({ max: der.length - 1 }).map((n) => ({ bytes: der.subarray(0, n), garbage: n > 0 })),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), async ({ bytes, garbage }, useGet) => {
        const url = `${fx.srv.baseUrl}/ocsp`;
        const res: BinaryResponse = useGet && bytes.length > 0 ? await binaryRequest(ocspGetUrl(url, bytes), { ca: fx.srv.rootPem }) : await ocspPost(url, bytes, fx.srv.rootPem);
        assert.equal(res.status, 200, `OCSP answers in HTTP 200, got ${res.status}`);
        const parsed = parseOcspResponse(res.body);
        if (garbage) assert.ok([OCSPResponseStatus.malformedRequest, OCSPResponseStatus.unauthorized].includes(parsed.responseStatus), `status ${parsed.responseStatus}`);
        else assert.notEqual(parsed.responseStatus, OCSPResponseStatus.successful);
      }),
      FC,
    );
  });

  test('ARI certificate ids: any string is 400 malformed or 404, a real id 200', async () => {
    const renewalInfo = String(fx.acme.directory.renewalInfo);
    const real = ariCertId(leafPem);
    assert.equal((await httpsRequest(`${renewalInfo}/${real}`, { ca: fx.srv.rootPem })).status, 200);
    const id = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.tuple(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ maxLength: 24 })).map(([a, b]) => `${Buffer.from(a).toString('base64url')}.${Buffer.from(b).toString('base64url')}`),
      fc.string({ maxLength: 4 }).map((s) => `${real}${s}`),
    );
    await fc.assert(
      fc.asyncProperty(id, async (text) => {
        if (text === real) return;
        const res = await httpsRequest(`${renewalInfo}/${encodeURIComponent(text)}`, { ca: fx.srv.rootPem });
        assertNoServerError(res, `certID ${JSON.stringify(text)}`);
        assert.ok(res.status === 400 || res.status === 404, `certID ${JSON.stringify(text)}: ${res.status} ${res.body}`);
        if (res.status === 400) assert.equal(res.json?.type, 'urn:ietf:params:acme:error:malformed', res.body);
      }),
      FC,
    );
  });
});
