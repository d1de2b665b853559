/**
 * http-01 (RFC 8555 §8.3): GET http://<identifier>:<port>/.well-known/acme-challenge/<token>
 * through the configured resolvers and compare the body with the key authorization. Redirects
 * are followed (at most 10) to http on the validation port or https on 443, as Let's Encrypt does;
 * the body is bounded; every hop is recorded.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Identifier } from '../acme/problem.js';
import { AcmeProblem, problems } from '../acme/problem.js';
import { BodyTooLargeError, readBounded } from '../http/read-bounded.js';
import type { AddressLookup } from './resolver.js';
import { ValidationFailure, type ValidationRecord, type ValidationRequest, type Validator } from './validator.js';

const MAX_REDIRECTS = 10;
const MAX_BODY_BYTES = 4096;

export interface Http01Options {
  port: number;
  resolver: AddressLookup;
  userAgent?: string;
}

export class Http01Validator implements Validator {
  readonly type = 'http-01';

  constructor(private readonly options: Http01Options) {}

  supports(_identifier: Identifier, wildcard: boolean): boolean {
    return !wildcard;
  }

  async validate(req: ValidationRequest): Promise<ValidationRecord[]> {
    const records: ValidationRecord[] = [];
    const host = req.identifier.type === 'ip' && isIP(req.identifier.value) === 6 ? `[${req.identifier.value}]` : req.identifier.value;
    let url = new URL(`http://${host}:${this.options.port}/.well-known/acme-challenge/${req.token}`);
    try {
      for (let hop = 0; ; hop++) {
        const response = await this.fetchOnce(url, req, records);
        const location = response.headers.location;
        if (response.statusCode !== undefined && response.statusCode >= 300 && response.statusCode < 400 && location) {
          response.resume();
          if (hop >= MAX_REDIRECTS) throw problems.connection(`too many redirects (more than ${MAX_REDIRECTS}) from ${url.href}`);
          url = this.redirectTarget(url, location, req.identifier);
          continue;
        }
        if (response.statusCode !== 200) {
          response.resume();
          throw problems.unauthorized(`${url.href} answered HTTP ${response.statusCode}, expected 200 with the key authorization`);
        }
        const body = await readBody(response, MAX_BODY_BYTES, url.href);
        const trimmed = body.replace(/[ \t\r\n]+$/, '');
        if (trimmed !== req.keyAuthorization) {
          throw problems.incorrectResponse(
            `${url.href} did not return the expected key authorization (got ${JSON.stringify(trimmed.slice(0, 100))})`,
          );
        }
        return records;
      }
    } catch (e) {
      if (e instanceof AcmeProblem) throw new ValidationFailure(e, records);
      throw new ValidationFailure(problems.connection(`fetching ${url.href} failed`), records);
    }
  }

  /** Resolves, connects (IPv6 first, then IPv4 on connection failure) and sends one GET. */
  private async fetchOnce(url: URL, req: ValidationRequest, records: ValidationRecord[]): Promise<IncomingMessage> {
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const addresses = isIP(hostname) ? [hostname] : await this.options.resolver.addresses(hostname);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const record: ValidationRecord = { url: url.href, hostname, port, addressesResolved: addresses };
    records.push(record);
    let lastError = '';
    for (const address of addresses) {
      record.addressUsed = address;
      try {
        return await get(url, address, port, req.signal, this.options.userAgent ?? 'Anvil-VA/1.0');
      } catch (e) {
        if (req.signal.aborted) throw problems.connection(`timeout fetching ${url.href} from ${address}`);
        lastError = (e as { code?: string }).code ?? (e as Error).message;
      }
    }
    throw problems.connection(`cannot fetch ${url.href}: ${lastError} (tried ${addresses.join(', ')})`);
  }

  private redirectTarget(from: URL, location: string, identifier: Identifier): URL {
    let next: URL;
    try {
      next = new URL(location, from);
    } catch {
      throw problems.connection(`invalid redirect location ${JSON.stringify(location)} from ${from.href}`);
    }
    const port = Number(next.port || (next.protocol === 'https:' ? 443 : 80));
    if (next.protocol === 'http:' && port !== this.options.port) {
      throw problems.connection(`redirect to ${next.href}: http redirects must stay on port ${this.options.port}`);
    }
    if (next.protocol === 'https:' && port !== 443) throw problems.connection(`redirect to ${next.href}: https redirects must use port 443`);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw problems.connection(`redirect to unsupported scheme ${next.protocol}`);
    const bare = next.hostname.replace(/^\[|\]$/g, '');
    if (isIP(bare) && identifier.type !== 'ip') throw problems.connection(`redirect to bare IP address ${bare} is not followed`);
    return next;
  }
}

function get(url: URL, address: string, port: number, signal: AbortSignal, userAgent: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const defaultPort = https ? 443 : 80;
    const options = {
      host: address,
      port,
      path: url.pathname + url.search,
      method: 'GET',
      headers: { Host: port === defaultPort ? url.hostname : `${url.hostname}:${port}`, 'User-Agent': userAgent, Accept: '*/*' },
      signal,
      agent: false as const,
    };
    const request = https
      ? httpsRequest({ ...options, servername: isIP(url.hostname) ? undefined : url.hostname, rejectUnauthorized: false }, resolve)
      : httpRequest(options, resolve);
    request.on('error', reject);
    request.end();
  });
}

function readBody(response: IncomingMessage, limit: number, href: string): Promise<string> {
  return readBounded(response, limit).then(
    (body) => body.toString('utf8'),
    (e: Error) => {
      throw e instanceof BodyTooLargeError ? problems.unauthorized(`${href} returned more than ${limit} bytes`) : problems.connection(`reading ${href} failed: ${e.message}`);
    },
  );
}
