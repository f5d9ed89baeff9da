import crypto from 'node:crypto';
import type { AuditRecord } from '../../src/audit/audit-record';

/** An allowed `GET /keys` delivery record for `resourceId` at `time` (epoch ms or Date), with fresh id and KID. */
export function deliveryRecord(resourceId: string, time: number | Date = new Date()): AuditRecord {
  return {
    id: crypto.randomUUID(),
    time: new Date(time),
    action: 'deliver',
    route: 'GET /keys/{resourceId}/{kid}',
    resourceId,
    kid: crypto.randomUUID(),
    outcome: 'allowed',
    status: 200,
  };
}
