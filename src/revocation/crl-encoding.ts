/**
 * CRL encoding for large lists. Each revoked certificate's entry (RFC 5280 §5.1.2.6) is encoded
 * once, when it is revoked, and stored; a CRL then embeds the stored entries as they are (the content of
 * the revokedCertificates SEQUENCE, written by asn1js) instead of building and encoding an object per
 * entry on every publication, which is what made a million-entry CRL take half a minute.
 */
import { AsnConvert, AsnProp, AsnPropTypes, AsnSerializer, AsnType, AsnTypeTypes, type IAsnConverter } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension, Name, RevokedCertificate, Time, Version } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { toArrayBuffer } from '../ca/certificate-builder.js';
import { crlReason, invalidityDate } from '../ca/extensions.js';
import type { CrlEntryList, RevokedEntry } from '../store/types.js';
import { wholeSeconds } from './ocsp-messages.js';

/** The DER of one CRL entry. */
export function encodeCrlEntry(e: RevokedEntry): Uint8Array {
  const extensions: Extension[] = [];
  // RFC 5280 §5.3.1: reasonCode unspecified (0) SHOULD be absent.
  if (e.reason !== 0) extensions.push(crlReason(e.reason));
  if (e.invalidityDate) extensions.push(invalidityDate(wholeSeconds(e.invalidityDate)));
  const entry = new RevokedCertificate({
    userCertificate: toArrayBuffer(Buffer.from(e.serial, 'hex')),
    revocationDate: new Time(wholeSeconds(e.revokedAt)),
  });
  if (extensions.length > 0) entry.crlEntryExtensions = extensions;
  return new Uint8Array(AsnConvert.serialize(entry));
}

/** revokedCertificates given as the concatenated DER of its entries, wrapped in its SEQUENCE. */
const EncodedEntries: IAsnConverter<Uint8Array> = {
  fromASN: () => {
    throw new Error('TbsCertListOfEncodedEntries is for encoding only');
  },
  toASN: (entries) => {
    // A universal SEQUENCE (class 1, number 16, constructed) whose content asn1js writes as given;
    // Primitive resets the constructed bit in its constructor, so it is set afterwards.
    const list = new asn1js.Primitive({ idBlock: { tagClass: 1, tagNumber: 16 }, valueHex: toArrayBuffer(entries) });
    list.idBlock.isConstructed = true;
    return list;
  },
};

/** TBSCertList (RFC 5280 §5.1) whose revokedCertificates are already-encoded entries. */
class TbsCertListOfEncodedEntries {
  version = Version.v2;
  signature = new AlgorithmIdentifier();
  issuer = new Name();
  thisUpdate = new Time();
  nextUpdate?: Time;
  revokedCertificates?: Uint8Array;
  crlExtensions?: Extension[];
}
// Applied as functions: the project compiles without decorator syntax.
const field = (name: keyof TbsCertListOfEncodedEntries, options: Parameters<typeof AsnProp>[0]) => AsnProp(options)(TbsCertListOfEncodedEntries.prototype, name);
field('version', { type: AsnPropTypes.Integer, optional: true });
field('signature', { type: AlgorithmIdentifier });
field('issuer', { type: Name });
field('thisUpdate', { type: Time });
field('nextUpdate', { type: Time, optional: true });
field('revokedCertificates', { type: AsnPropTypes.Any, converter: EncodedEntries, optional: true });
field('crlExtensions', { type: Extension, context: 0, repeated: 'sequence', optional: true });
AsnType({ type: AsnTypeTypes.Sequence })(TbsCertListOfEncodedEntries);

export interface CrlContent {
  signature: AlgorithmIdentifier;
  issuer: Name;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntryList;
  extensions: Extension[];
}

/** The DER of the TBSCertList around the stored entries. */
export function encodeTbsCertList(c: CrlContent): Uint8Array {
  const tbs = new TbsCertListOfEncodedEntries();
  tbs.signature = c.signature;
  tbs.issuer = c.issuer;
  tbs.thisUpdate = new Time(c.thisUpdate);
  tbs.nextUpdate = new Time(c.nextUpdate);
  tbs.crlExtensions = c.extensions;
  // RFC 5280 §5.1.2.6: with no revoked certificates the list is absent, not empty.
  if (c.entries.count > 0) tbs.revokedCertificates = c.entries.der;
  return new Uint8Array(AsnSerializer.toASN(tbs).toBER(false));
}
