import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { ServiceUnavailableError } from '../../../src/errors';
import { dynamoOutage } from '../../../src/store/dynamodb/errors';
import { putOwner } from '../../../src/store/dynamodb/resources';

// DynamoDB cancels a transaction with TransactionConflict while another writer's transaction on the same
// item is in flight; serial moto never does, so these runs script the client.

const owner = { resourceId: 'movie-1', tenant: 'acme', kind: 'speke' as const, createdAt: new Date(1) };
const evilItem = {
  pk: { S: 'RESOURCE#movie-1' },
  sk: { S: 'RESOURCE' },
  resourceId: { S: 'movie-1' },
  tenant: { S: 'evil' },
  kind: { S: 'speke' },
  createdAt: { N: '2' },
};
const cancelled = (code: string) =>
  new TransactionCanceledException({
    message: `Transaction cancelled [${code}, None]`,
    $metadata: {},
    CancellationReasons: [{ Code: code }, { Code: 'None' }],
  });

/** A client whose transactions answer from `transactions` in turn and whose owner reads from `reads`. */
function scripted(transactions: Array<Error | undefined>, reads: Array<object | undefined>) {
  const calls: string[] = [];
  const send = async (command: object) => {
    const name = command.constructor.name;
    calls.push(name);
    if (name === 'TransactWriteItemsCommand') {
      const outcome = transactions.shift();
      if (outcome) throw outcome;
      return {};
    }
    if (name === 'GetItemCommand') return { Item: reads.shift() };
    throw new Error(`unexpected ${name}`);
  };
  return { table: { client: { send } as unknown as DynamoDBClient, name: 't' }, calls };
}

describe('putOwner', () => {
  it('does not take a conflict with an in-flight claim as written: it waits for that owner', async () => {
    const { table, calls } = scripted(
      [cancelled('TransactionConflict'), cancelled('ConditionalCheckFailed')],
      [undefined, evilItem],
    );
    await expect(putOwner(table, owner)).resolves.toMatchObject({ tenant: 'evil' });
    expect(calls.filter((c) => c === 'TransactWriteItemsCommand')).toHaveLength(2);
  });

  it('reports the owner that won, and undefined when its own put went in', async () => {
    await expect(
      putOwner(scripted([cancelled('ConditionalCheckFailed')], [evilItem]).table, owner),
    ).resolves.toMatchObject({ tenant: 'evil' });
    await expect(putOwner(scripted([undefined], []).table, owner)).resolves.toBeUndefined();
  });

  it('answers 503 when the conflict never settles, and throws on a reason it does not expect', async () => {
    const conflicts = Array.from({ length: 6 }, () => cancelled('TransactionConflict'));
    await expect(putOwner(scripted(conflicts, []).table, owner)).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(putOwner(scripted([cancelled('ValidationError')], []).table, owner)).rejects.toThrow(
      /unexpected reason: \[ValidationError, None\]/,
    );
  });
});

describe('a single-item write that meets a transaction', () => {
  it('is a short outage (503, Retry-After 1), not a 500', () => {
    const err = new TransactionConflictException({ message: 'Transaction is ongoing for the item', $metadata: {} });
    const outage = dynamoOutage(err);
    expect(outage).toBeInstanceOf(ServiceUnavailableError);
    expect(outage?.headers['Retry-After']).toBe('1');
  });
});
