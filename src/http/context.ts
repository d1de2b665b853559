/** What the HTTP edge needs from the rest of the server, wired once in app.ts. */
import type { Logger } from 'pino';
import type { Links } from '../acme/links.js';
import type { ChallengeDescriber } from '../acme/representations.js';
import type { NonceService } from '../acme/nonces.js';
import type { AccountService } from '../domain/accounts.js';
import type { AuthorizationService } from '../domain/authorizations.js';
import type { IssuanceService } from '../domain/issuance.js';
import type { OrderService } from '../domain/orders.js';
import type { RenewalInfoService } from '../domain/renewal-info.js';
import type { RevocationService } from '../domain/revocation.js';
import type { Store } from '../store/store.js';

import type { TrustBundle } from '../ca/ca-directory.js';

export interface DirectoryMeta {
  termsOfService?: string;
  website?: string;
  externalAccountRequired: boolean;
  /** RFC 8555 §7.1.1: the names this CA recognises as its own (also dns-persist-01 issuer names). */
  caaIdentities: string[];
  /** dns-persist-01 (draft-ietf-acme-dns-persist-02 §3.2, §4.1). */
  issuerDomainNames: string[];
  accountHashPrefix: string;
  /** draft-ietf-acme-profiles: profile name → description. */
  profiles: Record<string, string>;
}

export interface HttpContext {
  links: Links;
  nonces: NonceService;
  store: Store;
  accounts: AccountService;
  orders: OrderService;
  authorizations: AuthorizationService;
  issuance: IssuanceService;
  revocation: RevocationService;
  renewalInfo: RenewalInfoService;
  /** PEM chains (after the leaf) offered as alternates for certificates of this issuer. */
  alternateChains(issuerId: string): string[];
  trustBundle(): TrustBundle;
  /** Type-specific challenge fields for the account's challenges (RFC 8555 §8). */
  describeChallenge(accountId: string): ChallengeDescriber;
  directoryMeta(): DirectoryMeta;
  maxRequestBytes: number;
  log: Logger;
}
