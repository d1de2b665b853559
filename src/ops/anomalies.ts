/**
 * Anomaly detection on the fleet's renewal behaviour, computed from the store on a schedule:
 * missed renewals, renewals far earlier than their ARI window, bursts of failed validations per
 * account or name, issuance far above an account's or profile's own baseline, and revocation
 * spikes. Each finding becomes a metric, a structured log event and an admin API entry with the
 * account, names and a short remediation hint. Thresholds are configurable.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../config/settings.js';
import type { Store } from '../store/store.js';

export type AnomalyKind = 'missed-renewal' | 'early-renewal' | 'failed-validation-burst' | 'issuance-spike' | 'revocation-spike';

export interface Finding {
  kind: AnomalyKind;
  accounts: string[];
  names: string[];
  detail: string;
  hint: string;
  count?: number;
  key: string;
}

const duration = z.string().refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as 10m' });

const Thresholds = z
  .object({
    missedRenewalLookback: duration.default('24h'),
    earlyRenewalFraction: z.number().gt(0).lt(1).default(0.5),
    earlyRenewalLookback: duration.default('24h'),
    failedValidationWindow: duration.default('10m'),
    failedValidationsPerAccount: z.number().int().min(1).default(20),
    failedValidationsPerName: z.number().int().min(1).default(10),
    issuanceWindow: duration.default('1h'),
    issuanceBaseline: duration.default('7d'),
    issuanceFactor: z.number().min(1).default(5),
    issuanceMinimum: z.number().int().min(1).default(50),
    revocationWindow: duration.default('1h'),
    revocationFactor: z.number().min(1).default(5),
    revocationMinimum: z.number().int().min(1).default(10),
  })
  .strict();

export type AnomalyThresholds = z.infer<typeof Thresholds>;

export function loadThresholds(path: string | undefined): AnomalyThresholds {
  if (!path) return Thresholds.parse({});
  const parsed = Thresholds.safeParse(parseYaml(readFileSync(path, 'utf8')) ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`anomaly config ${path}: field ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

const ms = (d: string) => parseDuration(d)!;
const SCAN_LIMIT = 200;
const SHARED_KEY = 'anomaly-findings';

export class AnomalyDetector {
  private findings: Finding[] = [];
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly t: AnomalyThresholds,
    private readonly log: Logger,
    /** False while another instance holds the scan lease: then this one shows that one's findings. */
    private readonly mayScan: () => boolean = () => true,
  ) {}

  current(): Finding[] {
    return this.findings;
  }

  counts(): Record<AnomalyKind, number> {
    const out: Record<AnomalyKind, number> = { 'missed-renewal': 0, 'early-renewal': 0, 'failed-validation-burst': 0, 'issuance-spike': 0, 'revocation-spike': 0 };
    for (const f of this.findings) out[f.kind]++;
    return out;
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    const run = () => {
      this.scanning = (this.mayScan() ? this.scan().then(() => undefined) : this.loadShared())
        .catch((e) => this.log.error({ err: (e as Error).message }, 'anomaly scan failed'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(run, intervalMs).unref();
        });
    };
    this.timer = setTimeout(run, Math.min(intervalMs, 5_000)).unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.scanning;
  }

  /** One scan: replaces the current findings; new ones are logged. */
  async scan(now = Date.now()): Promise<Finding[]> {
    const found = [
      ...(await this.missedRenewals(now)),
      ...(await this.earlyRenewals(now)),
      ...(await this.failedValidationBursts(now)),
      ...(await this.issuanceSpikes(now)),
      ...(await this.revocationSpike(now)),
    ];
    const known = new Set(this.findings.map((f) => f.key));
    for (const f of found) {
      if (!known.has(f.key)) this.log.warn({ event: 'anomaly', kind: f.kind, accounts: f.accounts, names: f.names, count: f.count, hint: f.hint }, f.detail);
    }
    this.findings = found;
    await this.store.putSharedState(SHARED_KEY, JSON.stringify(found)).catch((e) => this.log.warn({ err: (e as Error).message }, 'could not share anomaly findings'));
    return found;
  }

  /** Takes the findings of the instance that scans. */
  private async loadShared(): Promise<void> {
    const shared = await this.store.getSharedState(SHARED_KEY);
    if (shared) this.findings = JSON.parse(shared.value) as Finding[];
  }

  private async missedRenewals(now: number): Promise<Finding[]> {
    const expired = await this.store.findExpiredWithoutSuccessor(new Date(now - ms(this.t.missedRenewalLookback)), new Date(now), SCAN_LIMIT);
    return expired.map((c) => ({
      kind: 'missed-renewal',
      key: `missed-renewal:${c.id}`,
      accounts: [c.accountId],
      names: c.identifiers.map((i) => i.value),
      detail: `certificate ${c.serial} (profile ${c.profile}) expired at ${c.notAfter.toISOString()} with no successor`,
      hint: 'check the client on the hosts using these names: is it running, can it reach the CA, did its renewal fail?',
    }));
  }

  private async earlyRenewals(now: number): Promise<Finding[]> {
    const pairs = await this.store.findEarlyRenewals(new Date(now - ms(this.t.earlyRenewalLookback)), this.t.earlyRenewalFraction, SCAN_LIMIT);
    return pairs.map(({ previous, successor }) => ({
      kind: 'early-renewal',
      key: `early-renewal:${successor.id}`,
      accounts: [successor.accountId],
      names: successor.identifiers.map((i) => i.value),
      detail: `certificate ${successor.serial} renewed ${previous.serial} at ${successor.issuedAt.toISOString()}, long before its ARI window opened (${previous.renewalStart.toISOString()})`,
      hint: 'the client renews too early: enable ARI (RFC 9773) in the client or lengthen its renew-before setting',
    }));
  }

  private async failedValidationBursts(now: number): Promise<Finding[]> {
    const since = new Date(now - ms(this.t.failedValidationWindow));
    const byAccount = await this.store.failedValidationGroups('account', since, this.t.failedValidationsPerAccount);
    const byName = await this.store.failedValidationGroups('identifier', since, this.t.failedValidationsPerName);
    return [
      ...byAccount.map(
        (g): Finding => ({
          kind: 'failed-validation-burst',
          key: `failed-account:${g.key}`,
          accounts: [g.key],
          names: [],
          count: g.count,
          detail: `${g.count} failed validations for account ${g.key} in ${this.t.failedValidationWindow}`,
          hint: 'look at the challenge errors of this account: a misconfigured client retrying, or someone probing names it does not control',
        }),
      ),
      ...byName.map(
        (g): Finding => ({
          kind: 'failed-validation-burst',
          key: `failed-name:${g.key}`,
          accounts: g.accounts,
          names: [g.key],
          count: g.count,
          detail: `${g.count} failed validations for ${g.key} in ${this.t.failedValidationWindow}`,
          hint: 'check DNS and reachability of this name from the CA, and which accounts are asking for it',
        }),
      ),
    ];
  }

  private async issuanceSpikes(now: number): Promise<Finding[]> {
    const window = ms(this.t.issuanceWindow);
    const baseline = ms(this.t.issuanceBaseline);
    const out: Finding[] = [];
    for (const by of ['account', 'profile'] as const) {
      // Only keys already past the minimum can be a finding, so only theirs need a baseline.
      const recent = await this.store.issuanceCounts(by, new Date(now - window), new Date(now), { minimum: this.t.issuanceMinimum });
      if (recent.length === 0) continue;
      const keys = recent.map((r) => r.key);
      const before = new Map((await this.store.issuanceCounts(by, new Date(now - window - baseline), new Date(now - window), { keys })).map((r) => [r.key, r.count]));
      for (const r of recent) {
        const expected = ((before.get(r.key) ?? 0) * window) / baseline;
        if (r.count >= this.t.issuanceMinimum && r.count >= this.t.issuanceFactor * expected) {
          out.push({
            kind: 'issuance-spike',
            key: `issuance-${by}:${r.key}`,
            accounts: by === 'account' ? [r.key] : [],
            names: [],
            count: r.count,
            detail: `${r.count} certificates for ${by} ${r.key} in ${this.t.issuanceWindow}, against a baseline of ${expected.toFixed(1)}`,
            hint: by === 'account' ? 'a client may be looping (renewing on every start?) or the account key may be misused' : 'a rollout or a misbehaving fleet segment is issuing unusually often under this profile',
          });
        }
      }
    }
    return out;
  }

  private async revocationSpike(now: number): Promise<Finding[]> {
    const window = ms(this.t.revocationWindow);
    const recent = await this.store.countRevocations(new Date(now - window), new Date(now));
    const before = await this.store.countRevocations(new Date(now - window - ms(this.t.issuanceBaseline)), new Date(now - window));
    const expected = (before * window) / ms(this.t.issuanceBaseline);
    if (recent < this.t.revocationMinimum || recent < this.t.revocationFactor * expected) return [];
    return [
      {
        kind: 'revocation-spike',
        key: 'revocation-spike',
        accounts: [],
        names: [],
        count: recent,
        detail: `${recent} revocations in ${this.t.revocationWindow}, against a baseline of ${expected.toFixed(1)}`,
        hint: 'check the audit log for who revoked: a key compromise being handled, or an unexpected mass revocation',
      },
    ];
  }
}
