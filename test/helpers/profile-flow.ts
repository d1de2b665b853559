/**
 * Order walks with newOrder extras (`profile`, draft-ietf-acme-profiles; `replaces`, RFC 9773
 * §5) on top of the RawAcme building blocks in acme-flow: a ready order, and a full issuance.
 */
import { answerHttp01, finalizeOrder, makeCsr, newOrder, pemBlocks, poll, pollSettled, postAsGet, type Identifier } from './acme-flow.js';
import type { Http01Responder } from './http01-responder.js';
import type { RawAcme } from './raw-acme.js';

/** newOrder fields beyond `identifiers`. */
export interface OrderExtras {
  profile?: unknown;
  replaces?: unknown;
}

/** newOrder with `extras`, then http-01 for each pending authorization; returns the ready order. */
export async function readyOrderWith(acme: RawAcme, responder: Http01Responder, identifiers: Identifier[], extras: OrderExtras = {}): Promise<{ url: string; order: any; created: any }> {
  const created = await newOrder(acme, identifiers, extras as Record<string, unknown>);
  if (created.status !== 201) throw new Error(`newOrder failed: ${created.status} ${created.body}`);
  const url = String(created.headers.location);
  for (const authzUrl of created.json.authorizations as string[]) {
    if ((await postAsGet(acme, authzUrl)).json.status === 'valid') continue;
    await answerHttp01(acme, responder, authzUrl);
    const settled = await pollSettled(acme, authzUrl);
    if (settled.json.status !== 'valid') throw new Error(`authorization did not become valid: ${settled.body}`);
  }
  const order = await poll(acme, url, (b) => b.status !== 'pending');
  if (order.json.status !== 'ready') throw new Error(`order is not ready: ${order.body}`);
  return { url, order: order.json, created: created.json };
}

/** Finalizes a ready order with a fresh P-256 CSR for its identifiers and downloads the chain. */
export async function finalizeAndDownload(acme: RawAcme, url: string, order: any): Promise<{ order: any; chainPem: string; leafPem: string }> {
  const names = (order.identifiers as Identifier[]).filter((i) => i.type === 'dns').map((i) => i.value);
  const ips = (order.identifiers as Identifier[]).filter((i) => i.type === 'ip').map((i) => i.value);
  const { csr } = await makeCsr(names, { ips });
  const valid = await finalizeOrder(acme, url, order, csr);
  return { ...valid, leafPem: `${pemBlocks(valid.chainPem)[0]!}\n` };
}

/** The whole flow for DNS `names` with newOrder `extras`. */
export async function issueWith(acme: RawAcme, responder: Http01Responder, names: string[], extras: OrderExtras = {}): Promise<{ url: string; order: any; chainPem: string; leafPem: string }> {
  const { url, order } = await readyOrderWith(acme, responder, names.map((value) => ({ type: 'dns', value })), extras);
  return { url, ...(await finalizeAndDownload(acme, url, order)) };
}
