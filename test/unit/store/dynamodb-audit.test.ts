import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { AuditRecord } from '../../../src/audit/audit-record';
import { DynamoAuditRepository } from '../../../src/store/dynamodb/audit';

type Item = Record<string, AttributeValue>;
const DAY = 24 * 3600 * 1000;
const NOW = new Date('2026-03-10T12:00:00.000Z');

/** An in-memory stand-in for the two calls the audit table makes; the first batch write leaves one item unprocessed. */
function fakeClient() {
  const items: Item[] = [];
  const calls = { query: [] as string[], batches: 0 };
  let dropNext = true;
  const send = async (command: unknown) => {
    if (command instanceof BatchWriteItemCommand) {
      calls.batches++;
      const requests = Object.values(command.input.RequestItems ?? {})[0] ?? [];
      const [first, ...rest] = requests;
      const kept = dropNext ? rest : requests;
      items.push(...kept.map((r) => r.PutRequest?.Item as Item));
      const unprocessed = dropNext && first ? { t: [first] } : {};
      dropNext = false;
      return { UnprocessedItems: unprocessed };
    }
    if (command instanceof QueryCommand) {
      const values = command.input.ExpressionAttributeValues ?? {};
      const pk = values[':pk']?.S as string;
      const after = values[':after']?.S as string;
      calls.query.push(pk);
      const found = items
        .filter((i) => i.pk?.S === pk && (i.sk?.S as string) > after)
        .sort((a, b) => ((a.sk?.S as string) < (b.sk?.S as string) ? -1 : 1))
        .slice(0, command.input.Limit);
      return { Items: found };
    }
    throw new Error('unexpected command');
  };
  return { client: { send } as unknown as DynamoDBClient, items, calls };
}

const record = (time: Date, id: string): AuditRecord => ({
  id,
  time,
  action: 'deliver',
  route: 'GET /keys/{resourceId}/{kid}',
  resourceId: 'movie-1',
  outcome: 'allowed',
  status: 200,
});

function table() {
  const fake = fakeClient();
  return {
    ...fake,
    audit: new DynamoAuditRepository({ client: fake.client, name: 't' }, () => NOW),
  };
}

describe('DynamoAuditRepository', () => {
  it('writes each record under its resource and its UTC day, retrying unprocessed items', async () => {
    const { audit, items, calls } = table();
    await audit.append([record(new Date('2026-03-09T23:59:59.999Z'), 'a')]);
    expect(calls.batches).toBe(2);
    expect(items.map((i) => [i.pk?.S, i.sk?.S]).sort()).toEqual([
      ['AUDIT#movie-1', '2026-03-09T23:59:59.999Z#a'],
      ['AUDITDAY#2026-03-09', '2026-03-09T23:59:59.999Z#a'],
    ]);
  });

  it('walks at most 31 day partitions per global page and continues at the next day', async () => {
    const { audit, calls } = table();
    await audit.append([record(new Date(NOW.getTime() - DAY), 'recent')]);
    const since = new Date(NOW.getTime() - 40 * DAY);
    const first = await audit.query({ since, limit: 10 });
    expect(first.records).toEqual([]);
    expect(calls.query).toHaveLength(31);
    expect(first.next?.time.toISOString()).toBe('2026-03-01T00:00:00.000Z');
    const second = await audit.query({ since, limit: 10, cursor: first.next });
    expect(second.records.map((r) => r.id)).toEqual(['recent']);
    expect(second.next).toBeUndefined();
    expect(calls.query.slice(31)).toEqual(
      Array.from({ length: 10 }, (_, i) => `AUDITDAY#2026-03-${String(i + 1).padStart(2, '0')}`),
    );
  });

  it('stops reading days once the page is full and resumes after its last record', async () => {
    const { audit } = table();
    const day = new Date('2026-03-08T00:00:00.000Z').getTime();
    await audit.append([0, 1, 2].map((h) => record(new Date(day + h * 3600_000), `r${h}`)));
    await audit.append([record(new Date(day + DAY), 'next-day')]);
    const page = await audit.query({ since: new Date(day), limit: 2 });
    expect(page.records.map((r) => r.id)).toEqual(['r0', 'r1']);
    const rest = await audit.query({ since: new Date(day), limit: 10, cursor: page.next });
    expect(rest.records.map((r) => r.id)).toEqual(['r2', 'next-day']);
  });
});
