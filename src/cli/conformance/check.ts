/**
 * Conformance checks as data: a name, a category, the SPEKE version it tests and a `run` that
 * returns pass, fail or skip with a detail. Assertion helpers throw CheckFailedError; the runner
 * turns that into a failed check, so checks read as straight-line code.
 */
import type { KeyObject } from 'node:crypto';
import type { HttpResult } from '../http-client';
import type { DrmName } from '../drm-names';
import type { SpekeClient } from '../speke-client';
import type { WidevineClient } from '../widevine-client';
import type { XsdValidator } from './xsd';

/** Outcome of one check. */
type CheckStatus = 'pass' | 'fail' | 'skip';

/** What a check reports. */
export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
}

/** What the checks are grouped by in reports. */
type CheckCategory = 'transport' | 'keys' | 'drm' | 'contract' | 'negative' | 'encryption' | 'schema';

/** The recipient certificate and key for encrypted-response checks, or why there is none. */
export type DeliveryMaterial =
  | { available: true; certificateDer: Buffer; privateKey: KeyObject; source: string }
  | { available: false; reason: string };

/** Everything a check may use. */
export interface ConformanceContext {
  speke: SpekeClient;
  /** Short random run id; resource IDs are made from it so runs never collide. */
  runId: string;
  /** DRM systems under test. */
  drms: readonly DrmName[];
  xsd: XsdValidator;
  delivery: DeliveryMaterial;
  /** The Widevine API endpoint and signer (`--widevine-signer`); absent: the `wv-api.*` checks skip. */
  widevine?: WidevineClient;
}

/** One conformance check. */
export interface Check {
  name: string;
  category: CheckCategory;
  speke: '1.0' | '2.0' | 'widevine';
  /** One line: what SPEKE requires that this check tests. */
  description: string;
  run(ctx: ConformanceContext): Promise<CheckOutcome>;
}

/** Thrown by assertions; the runner reports the message as the failure detail. */
export class CheckFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailedError';
  }
}

/** Thrown to skip a check with a reason (e.g. xmllint missing). */
export class CheckSkippedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckSkippedError';
  }
}

/** A passed outcome. */
export const pass = (detail = ''): CheckOutcome => ({ status: 'pass', detail });

/** Fails the check with a message unless `condition` holds. */
export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailedError(message);
}

/** A resource ID unique to this run and check (letters, digits, dashes: valid for every provider we know). */
export function resourceIdFor(ctx: ConformanceContext, label: string): string {
  return `kpc-${ctx.runId}-${label.replace(/[^A-Za-z0-9]+/g, '-')}`.slice(0, 120);
}

/** Short description of an HTTP answer for failure messages. */
export function describeAnswer(result: HttpResult): string {
  const body = result.text.replace(/\s+/g, ' ').trim();
  return `HTTP ${result.status}${body ? `: ${body.slice(0, 160)}` : ''}`;
}
