/**
 * The one URL builder: every ACME URL the server hands out is made here from the public base URL,
 * and every route path is declared here, so the route table and the URLs cannot disagree.
 */
export const PATHS = {
  directory: '/directory',
  newNonce: '/new-nonce',
  newAccount: '/new-account',
  newOrder: '/new-order',
  revokeCert: '/revoke-cert',
  keyChange: '/key-change',
  account: '/acct/:id',
  accountOrders: '/acct/:id/orders',
  order: '/order/:id',
  finalize: '/order/:id/finalize',
  authz: '/authz/:id',
  challenge: '/chall/:id',
  certificate: '/cert/:id',
  certificateAlternate: '/cert/:id/:alt',
  renewalInfo: '/renewal-info/:certId',
  trustBundle: '/trust-bundle',
  trustBundlePem: '/trust-bundle.pem',
} as const;

/** Revocation information paths (OCSP, RFC 6960/5019; CRLs, RFC 5280), on both listeners. */
export const REVOCATION_PATHS = {
  ocsp: '/ocsp',
  /** GET carries the base64 DER request as the rest of the path (RFC 6960 Appendix A.1). */
  ocspGet: '/ocsp/*request',
  crl: '/crl/:issuer/:file',
} as const;

export class Links {
  /** Base of the OCSP and CRL URLs written into certificates (often a plain-HTTP listener). */
  readonly revocationBaseUrl: string;

  constructor(
    readonly baseUrl: string,
    revocationBaseUrl?: string,
  ) {
    this.revocationBaseUrl = revocationBaseUrl ?? baseUrl;
  }

  directory = (): string => this.baseUrl + PATHS.directory;
  newNonce = (): string => this.baseUrl + PATHS.newNonce;
  newAccount = (): string => this.baseUrl + PATHS.newAccount;
  newOrder = (): string => this.baseUrl + PATHS.newOrder;
  revokeCert = (): string => this.baseUrl + PATHS.revokeCert;
  keyChange = (): string => this.baseUrl + PATHS.keyChange;
  account = (id: string): string => `${this.baseUrl}/acct/${id}`;
  accountOrders = (id: string, cursor?: string): string =>
    `${this.baseUrl}/acct/${id}/orders${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`;
  order = (id: string): string => `${this.baseUrl}/order/${id}`;
  finalize = (id: string): string => `${this.baseUrl}/order/${id}/finalize`;
  authz = (id: string): string => `${this.baseUrl}/authz/${id}`;
  challenge = (id: string): string => `${this.baseUrl}/chall/${id}`;
  certificate = (id: string): string => `${this.baseUrl}/cert/${id}`;
  /** RFC 8555 §7.4.2: alternate chains of a certificate, numbered from 1. */
  certificateAlternate = (id: string, n: number): string => `${this.baseUrl}/cert/${id}/${n}`;
  trustBundle = (): string => this.baseUrl + PATHS.trustBundle;
  /** dns-persist-01 (draft-02 §4.1): the prefix of hashed account URIs; not a fetchable resource. */
  accountHashPrefix = (): string => `${this.baseUrl}/account-hash/`;
  /** RFC 9773 §4.1: the renewalInfo resource; a certificate's URL is this plus `/<certID>`. */
  renewalInfo = (): string => `${this.baseUrl}/renewal-info`;
  ocsp = (): string => this.revocationBaseUrl + REVOCATION_PATHS.ocsp;
  crlShard = (issuerId: string, shard: number): string => `${this.revocationBaseUrl}/crl/${issuerId}/${shard}.crl`;
  crlFull = (issuerId: string): string => `${this.revocationBaseUrl}/crl/${issuerId}/full.crl`;

  /** The account id in a `kid` URL, or undefined if it is not one of our account URLs. */
  accountIdFromUrl(url: string): string | undefined {
    const prefix = `${this.baseUrl}/acct/`;
    if (!url.startsWith(prefix)) return undefined;
    const id = url.slice(prefix.length);
    return /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : undefined;
  }
}
