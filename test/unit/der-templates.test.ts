/**
 * The encode-once paths (leaf TBSCertificate templates, OCSP response templates) write exactly
 * the bytes the schema encoder writes for the same content. The reference here is the
 * @peculiar/asn1-x509 / asn1-ocsp structure built field by field; fast-check varies every field
 * the hot path fills in (fixed seed, bounded runs).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { AsnConvert, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  KeyHash,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, Certificate, CRLReason, Extension, Extensions, SubjectPublicKeyInfo, TBSCertificate, Validity, Version } from '@peculiar/asn1-x509';
import type { Identifier } from '../../src/acme/problem.js';
import { issueRoot } from '../../src/ca/ca-certs.js';
import { nameOf, toArrayBuffer } from '../../src/ca/certificate-builder.js';
import {
  authorityInfoAccessOcsp,
  authorityKeyIdentifier,
  basicConstraints,
  crlDistributionPoint,
  extendedKeyUsage,
  keyIdentifierOf,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
  type EkuName,
  type KeyUsageName,
} from '../../src/ca/extensions.js';
import { makeIssuer, type Issuer } from '../../src/ca/issuer.js';
import { buildLeaf } from '../../src/ca/leaf.js';
import { leafTemplateFor, type LeafFields } from '../../src/ca/leaf-template.js';
import { KeyObjectSigner, type Signer } from '../../src/ca/signer.js';
import { HASH_OIDS, sha1CertIdDer, signOcspResponse, type CertState, type SingleAnswer } from '../../src/revocation/ocsp-messages.js';
import { ensureOcspResponder, type OcspResponder } from '../../src/revocation/ocsp-responder-cert.js';
import type { Profile } from '../../src/profiles/profile.js';
import { loadProfiles } from '../../src/profiles/profile-set.js';
import { BUNDLED_PROFILES_DIR } from '../../src/server.js';

const SEED = 20261202;
const shipped = [...loadProfiles(BUNDLED_PROFILES_DIR, 'default', () => undefined).byName.values()];

async function testIssuer({ privateKey, spkiDer }: { privateKey: KeyObject; spkiDer: Uint8Array }): Promise<Issuer> {
  const signer = new KeyObjectSigner(privateKey);
  const name = nameOf([['O', 'Anvil tests'], ['CN', 'Template Issuer']]);
  const der = await issueRoot({ name, spkiDer }, signer, 365 * 86_400_000);
  return makeIssuer('int-template', der, signer);
}
function keyPair(type: 'ec-p256' | 'ec-p384' | 'rsa' | 'ed25519'): { privateKey: KeyObject; spkiDer: Uint8Array } {
  const pair =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: type === 'ec-p256' ? 'P-256' : 'P-384' });
  const spkiDer = new Uint8Array(pair.publicKey.export({ type: 'spki', format: 'der' }));
  return { privateKey: pair.privateKey, spkiDer };
}

/** The TBSCertificate as the schema encoder writes it, field by field (the pre-template leaf code). */
function referenceTbs(profile: Profile, issuer: Issuer, rsaKey: boolean, urls: { ocsp: string; crl: string }, f: LeafFields): Uint8Array {
  const usages: KeyUsageName[] = [...profile.keyUsage];
  if (rsaKey && profile.rsaKeyEncipherment && !usages.includes('keyEncipherment')) usages.push('keyEncipherment');
  const extensions = [
    basicConstraints(false),
    keyUsage(usages),
    ...(profile.extendedKeyUsage.length > 0 ? [extendedKeyUsage(profile.extendedKeyUsage)] : []),
    subjectKeyIdentifier(keyIdentifierOf(f.spkiDer)),
    authorityKeyIdentifier(issuer.keyId),
    ...(profile.revocationInfo.ocsp ? [authorityInfoAccessOcsp(urls.ocsp)] : []),
    ...(profile.revocationInfo.crl ? [crlDistributionPoint(urls.crl)] : []),
    subjectAltName(f.identifiers, f.commonName === undefined),
  ];
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(f.serial),
    signature: issuer.signer.scheme.identifier(),
    issuer: issuer.subject,
    validity: new Validity({ notBefore: f.notBefore, notAfter: f.notAfter }),
    subject: nameOf(f.commonName === undefined ? [] : [['CN', f.commonName]]),
    subjectPublicKeyInfo: AsnConvert.parse(f.spkiDer, SubjectPublicKeyInfo),
    extensions: new Extensions(extensions),
  });
  return new Uint8Array(AsnSerializer.toASN(tbs).toBER(false));
}

const serialArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
  b[0] = b[0]! & 0x7f || 0x01;
  return b;
});
// 1950..2100: both sides of the UTCTime/GeneralizedTime switch at 2050 (RFC 5280 §4.1.2.5).
const dateArb = fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('2100-12-31T23:59:59Z'), noInvalidDate: true });
const dnsArb = fc.domain().map((d) => d.toLowerCase());
const identifiersArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(dnsArb.map((value): Identifier => ({ type: 'dns', value })), { minLength: 1, maxLength: 6 }) },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.oneof(dnsArb.map((value): Identifier => ({ type: 'dns', value })), fc.ipV4().map((value): Identifier => ({ type: 'ip', value }))),
      { minLength: 1, maxLength: 4 },
    ),
  },
);
const ekuArb = fc.subarray(['serverAuth', 'clientAuth', 'codeSigning'] as EkuName[]);
const usageArb = fc.subarray(['digitalSignature', 'keyEncipherment', 'keyAgreement'] as KeyUsageName[], { minLength: 1 });

test('leaf templates write the same TBSCertificate bytes as the schema encoder, for any serial, validity, names, key and profile', async () => {
  const issuerKeys = [keyPair('ec-p256'), keyPair('rsa')];
  const issuers = await Promise.all(issuerKeys.map((k) => testIssuer(k)));
  const subjects = [keyPair('ec-p256'), keyPair('ec-p384'), keyPair('rsa'), keyPair('ed25519')];
  const spkis = subjects.map((s) => ({
    spkiDer: s.spkiDer,
    subjectPublicKey: new Uint8Array(AsnConvert.parse(s.spkiDer, SubjectPublicKeyInfo).subjectPublicKey),
    rsa: s.privateKey.asymmetricKeyType === 'rsa',
  }));
  fc.assert(
    fc.property(
      fc.record({
        profile: fc.constantFrom(...shipped),
        eku: fc.option(ekuArb, { nil: undefined }),
        usages: fc.option(usageArb, { nil: undefined }),
        revocation: fc.record({ ocsp: fc.boolean(), crl: fc.boolean() }),
        rsaKeyEncipherment: fc.boolean(),
        issuer: fc.constantFrom(...issuers),
        key: fc.constantFrom(...spkis),
        serial: serialArb,
        notBefore: dateArb,
        notAfter: dateArb,
        identifiers: identifiersArb,
        withCn: fc.boolean(),
        shard: fc.integer({ min: 0, max: 31 }),
      }),
      (c) => {
        const profile: Profile = {
          ...c.profile,
          ...(c.eku ? { extendedKeyUsage: c.eku } : {}),
          ...(c.usages ? { keyUsage: c.usages } : {}),
          revocationInfo: c.revocation,
          rsaKeyEncipherment: c.rsaKeyEncipherment,
        };
        const urls = { ocsp: 'http://127.0.0.1:8080/ocsp', crl: `http://127.0.0.1:8080/crl/${c.issuer.id}/${c.shard}.crl` };
        const fields: LeafFields = {
          serial: c.serial,
          notBefore: c.notBefore,
          notAfter: c.notAfter,
          commonName: c.withCn && c.identifiers[0]!.value.length <= 64 ? c.identifiers[0]!.value : undefined,
          spkiDer: c.key.spkiDer,
          subjectPublicKey: c.key.subjectPublicKey,
          identifiers: c.identifiers,
        };
        const got = leafTemplateFor(profile, c.issuer, c.key.rsa, urls).tbs(fields);
        assert.equal(Buffer.from(got).toString('hex'), Buffer.from(referenceTbs(profile, c.issuer, c.key.rsa, urls, fields)).toString('hex'));
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
});

test('a leaf built from its template is a certificate the issuer key verifies, with the fields asked for', async () => {
  const issuerKey = keyPair('ec-p256');
  const issuer = await testIssuer(issuerKey);
  const subject = keyPair('ec-p256');
  const profile = shipped.find((p) => p.name === 'default')!;
  const der = await buildLeaf({
    serial: Uint8Array.from(Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex')),
    identifiers: [{ type: 'dns', value: 'svc.example.internal' }, { type: 'ip', value: '127.0.0.1' }],
    spkiDer: subject.spkiDer,
    subjectPublicKey: new Uint8Array(AsnConvert.parse(subject.spkiDer, SubjectPublicKeyInfo).subjectPublicKey),
    keyType: 'ecdsa-p256',
    notBefore: new Date('2026-12-02T10:00:00.750Z'),
    notAfter: new Date('2026-12-03T10:00:00Z'),
    profile,
    issuer,
    ocspUrl: 'http://127.0.0.1:1/ocsp',
    crlUrl: 'http://127.0.0.1:1/crl/0.crl',
  });
  const cert = new X509Certificate(Buffer.from(der));
  assert.ok(cert.verify(new X509Certificate(Buffer.from(issuer.certDer)).publicKey), 'signature verifies under the issuer key');
  assert.equal(cert.serialNumber, '0102030405060708090A0B0C0D0E0F10');
  assert.equal(cert.validFrom, 'Dec  2 10:00:00 2026 GMT');
  assert.equal(cert.subjectAltName, 'DNS:svc.example.internal, IP Address:127.0.0.1');
  assert.ok(cert.publicKey.equals(new X509Certificate(Buffer.from(der)).publicKey));
});

/** The response as the asn1-ocsp schema encodes it (the pre-template responder code). */
async function referenceOcsp(responder: OcspResponder, answers: SingleAnswer[], thisUpdate: Date, nextUpdate: Date | null, nonce: Extension | undefined, producedAt: Date): Promise<Uint8Array> {
  const status = (state: CertState): CertStatus => {
    if (state.status === 'good') return new CertStatus({ good: null });
    if (state.status === 'unknown') return new CertStatus({ unknown: null });
    const info = new RevokedInfo({ revocationTime: state.revokedAt });
    if (state.reason !== null && state.reason !== 0) info.revocationReason = new CRLReason(state.reason);
    return new CertStatus({ revoked: info });
  };
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(responder.responderKeyHash) }),
    producedAt,
    responses: answers.map(
      (a) =>
        new SingleResponse({
          certID: a.certId instanceof Uint8Array ? AsnConvert.parse(a.certId, CertID) : a.certId,
          certStatus: status(a.state),
          thisUpdate,
          ...(nextUpdate ? { nextUpdate } : {}),
        }),
    ),
  });
  if (nonce) data.responseExtensions = [nonce];
  const tbs = new Uint8Array(AsnConvert.serialize(data));
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: responder.signer.scheme.identifier(),
    signature: toArrayBuffer(await responder.signer.sign(tbs)),
    certs: [AsnConvert.parse(responder.certDer, Certificate)],
  });
  return new Uint8Array(
    AsnConvert.serialize(
      new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
      }),
    ),
  );
}

test('OCSP responses written around the responder parts match the asn1-ocsp encoding: any status, reason, times, parsed or pre-encoded CertIDs (hash parameters NULL or absent) and nonce', async () => {
  const issuer = await testIssuer(keyPair('ec-p256'));
  const dir = mkdtempSync(join(tmpdir(), 'anvil-der-'));
  const real = await ensureOcspResponder(dir, issuer, 'test passphrase', 86_400_000);
  // The signature is not what is under test: a deterministic "signature" (the TBS digest) lets
  // both encodings be compared byte for byte, the signed bytes included.
  const digestSigner: Signer = { ...real.signer, kind: 'test', scheme: real.signer.scheme, keyType: real.signer.keyType, sign: async (d) => createHash('sha256').update(d).digest() };
  const responder: OcspResponder = { ...real, signer: digestSigner };
  const wholeSecond = dateArb.map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
  const stateArb: fc.Arbitrary<CertState> = fc.oneof(
    fc.constant<CertState>({ status: 'good' }),
    fc.constant<CertState>({ status: 'unknown' }),
    fc.record({ status: fc.constant('revoked' as const), revokedAt: wholeSecond, reason: fc.option(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 8, 9, 10), { nil: null }) }),
  );
  const serialHexArb = serialArb.map((b) => Buffer.from(b).toString('hex'));
  // A CertID as a request's parse yields it: the hash algorithm's parameters NULL (null) or absent.
  const parsedCertId = (serial: string, hash: 'sha1' | 'sha256', parameters: null | undefined) => {
    const hashes = responder.issuerHashes[hash];
    const built = new CertID({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: HASH_OIDS[hash], ...(parameters === null ? { parameters: null } : {}) }),
      issuerNameHash: new OctetString(hashes.nameHash),
      issuerKeyHash: new OctetString(hashes.keyHash),
      serialNumber: toArrayBuffer(Buffer.from(serial, 'hex')),
    });
    return AsnConvert.parse(AsnConvert.serialize(built), CertID);
  };
  const certIdOf = (e: { serial: string; form: string }): CertID | Uint8Array => {
    if (e.form === 'sha1-der') return sha1CertIdDer(responder, e.serial);
    const [hash, params] = e.form.split('-') as ['sha1' | 'sha256', string];
    return parsedCertId(e.serial, hash, params === 'null' ? null : undefined);
  };
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ serial: serialHexArb, state: stateArb, form: fc.constantFrom('sha1-der', 'sha1-null', 'sha1-absent', 'sha256-null', 'sha256-absent') }), { minLength: 1, maxLength: 4 }),
      wholeSecond,
      fc.option(wholeSecond, { nil: null }),
      wholeSecond,
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 32 }), { nil: undefined }),
      fc.boolean(),
      async (entries, thisUpdate, nextUpdate, producedAt, nonceBytes, critical) => {
        const answers: SingleAnswer[] = entries.map((e) => ({ certId: certIdOf(e), state: e.state }));
        const built = nonceBytes && new Extension({ extnID: id_pkix_ocsp_nonce, critical, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonceBytes))) });
        const nonce = built && AsnConvert.parse(AsnConvert.serialize(built), Extension);
        const got = await signOcspResponse(responder, answers, thisUpdate, nextUpdate, nonce, producedAt);
        const want = await referenceOcsp(responder, answers, thisUpdate, nextUpdate, nonce, producedAt);
        assert.equal(Buffer.from(got).toString('hex'), Buffer.from(want).toString('hex'));
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
  rmSync(dir, { recursive: true, force: true });
});
