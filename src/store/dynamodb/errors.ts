import type { CancellationReason } from '@aws-sdk/client-dynamodb';
import { awsErrorName, NETWORK_CODE } from '../../aws-errors';
import { ServiceUnavailableError } from '../../errors';

/** Failures that mean "DynamoDB cannot serve now" (503); anything else is our bug and propagates. */
const UNAVAILABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionInProgressException',
  // A single-item write that met another writer's transaction on the same item: retry shortly.
  'TransactionConflictException',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  'InvalidSignatureException',
  'CredentialsProviderError',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
]);
const THROTTLE_NAMES = new Set([
  'TransactionConflictException',
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);
/** Cancellation reasons that mean DynamoDB throttled the transaction: an outage, not a race. */
const THROTTLE_REASONS = new Set(['ThrottlingError', 'ProvisionedThroughputExceeded', 'RequestLimitExceeded']);
/** Cancellation reasons that mean another writer got there first: retry from the read. */
const RACE_REASONS = new Set(['ConditionalCheckFailed', 'TransactionConflict']);

function isUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { $fault, $metadata } = err as { $fault?: string; $metadata?: { httpStatusCode?: number } };
  const name = awsErrorName(err);
  if (UNAVAILABLE_NAMES.has(name) || NETWORK_CODE.test(name)) return true;
  return $fault === 'server' || ($metadata?.httpStatusCode ?? 0) >= 500;
}

/**
 * The DynamoDB OutageClassifier: throttling, server faults, unreachable endpoints, missing table or
 * credentials become ServiceUnavailableError (Retry-After 1 s when throttled, else 5 s).
 */
export function dynamoOutage(err: unknown): ServiceUnavailableError | undefined {
  if (!isUnavailable(err)) return undefined;
  const name = awsErrorName(err);
  return new ServiceUnavailableError(`DynamoDB unavailable: ${name}`, THROTTLE_NAMES.has(name) ? 1 : 5, err);
}

/** Whether a cancellation reason means another writer won the race. */
export function isRaceReason(reason: CancellationReason | undefined): boolean {
  return reason?.Code !== undefined && RACE_REASONS.has(reason.Code);
}

/** Whether a cancelled transaction was throttled (then it is an outage, not a race). */
export function isThrottled(reasons: CancellationReason[]): boolean {
  return reasons.some((r) => r.Code !== undefined && THROTTLE_REASONS.has(r.Code));
}

/**
 * The per-item reasons of a TransactionCanceledException. Falls back to the codes listed in the
 * message ("... [ConditionalCheckFailed, None]") for emulators that omit CancellationReasons.
 */
export function cancellationReasons(err: unknown, itemCount: number): CancellationReason[] {
  const reasons = (err as { CancellationReasons?: CancellationReason[] }).CancellationReasons;
  if (reasons && reasons.length === itemCount) return reasons;
  const listed = /\[([^\]]*)\]\s*$/.exec(err instanceof Error ? err.message : '')?.[1];
  const codes = listed?.split(',').map((c) => c.trim()) ?? [];
  return codes.length === itemCount ? codes.map((Code) => ({ Code })) : [];
}

/** A cancellation none of whose reasons we expect: our bug, reported with the codes. */
export function unexplainedCancellation(reasons: CancellationReason[]): Error {
  const codes = reasons.map((r) => r.Code ?? 'None').join(', ');
  return new Error(`DynamoDB cancelled the transaction for an unexpected reason: [${codes}]`);
}
