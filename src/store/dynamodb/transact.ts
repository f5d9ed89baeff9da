import crypto from 'node:crypto';
import type { CancellationReason, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { awsErrorName } from '../../aws-errors';
import { ServiceUnavailableError } from '../../errors';
import { cancellationReasons, isThrottled } from './errors';
import type { DynamoTable } from './items';

/** DynamoDB's limit on actions in one TransactWriteItems call. */
export const MAX_TRANSACTION_ITEMS = 100;
/** How often a batch call re-asks for unprocessed items before reporting an outage. */
export const MAX_UNPROCESSED_RETRIES = 8;

/** Waits before the `attempt`-th retry of unprocessed items: exponential, capped at 1 s, jittered. */
export function backoff(attempt: number): Promise<void> {
  const ms = Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs a write transaction. Returns undefined on success, or the cancellation reasons (one per item,
 * in order) when a condition failed or another transaction conflicted; a throttled one is a 503.
 */
export async function transact(
  table: DynamoTable,
  items: TransactWriteItem[],
): Promise<CancellationReason[] | undefined> {
  try {
    // The token makes the SDK's own retries idempotent: a retried commit that already applied succeeds.
    const token = crypto.randomUUID();
    await table.client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: token }));
    return undefined;
  } catch (err) {
    if (awsErrorName(err) !== 'TransactionCanceledException') throw err;
    const reasons = cancellationReasons(err, items.length);
    if (isThrottled(reasons)) throw new ServiceUnavailableError('DynamoDB unavailable: transaction throttled', 1, err);
    return reasons;
  }
}
