/**
 * dns-01 (RFC 8555 §8.4): a TXT record at `_acme-challenge.<name>` holding
 * base64url(SHA-256(key authorization)), looked up through the configured resolvers, CNAMEs
 * followed (bounded). The only built-in type that proves wildcards.
 */
import { createHash } from 'node:crypto';
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import type { TxtLookup } from './resolver.js';
import { ValidationFailure, type ValidationRecord, type ValidationRequest, type Validator } from './validator.js';

export class Dns01Validator implements Validator {
  readonly type = 'dns-01';

  constructor(private readonly resolver: TxtLookup) {}

  supports(identifier: Identifier): boolean {
    return identifier.type === 'dns';
  }

  async validate(req: ValidationRequest): Promise<ValidationRecord[]> {
    const name = `_acme-challenge.${req.identifier.value}`;
    const expected = createHash('sha256').update(req.keyAuthorization).digest('base64url');
    const record: ValidationRecord = { hostname: name };
    try {
      const { values, queried } = await this.resolver.txtFollowingCnames(name);
      record.queried = queried;
      const found = values.map((chunks) => chunks.join(''));
      if (found.length === 0) throw problems.unauthorized(`no TXT record found at ${name}`);
      if (!found.includes(expected)) {
        throw problems.incorrectResponse(`TXT records at ${name} do not contain the expected value (found ${found.length} record(s))`);
      }
      return [record];
    } catch (e) {
      if (e instanceof AcmeProblem) throw new ValidationFailure(e, [record]);
      throw new ValidationFailure(problems.dns(`DNS lookup of ${name} failed`), [record]);
    }
  }
}
