import type { AuditPage, AuditQuery, AuditRecord } from '../../audit/audit-record';
import type { AuditRepository } from '../repositories';
import { auditRow } from '../audit-row';
import type { SqliteAuditTable } from './audit-table';
import type { GroupCommitter } from './group-commit';
import type { SqliteWriterThread } from './writer-thread';

/**
 * The audit trail in its own SQLite file. Records are committed (group-committed on the audit
 * connection) before the request that wrote them answers, so they survive a crash of the process; see
 * `openAuditDatabase`. Retention is applied around it (see `withAuditRetention` and SqliteAuditPruner).
 */
export class SqliteAuditRepository implements AuditRepository {
  constructor(
    private readonly table: SqliteAuditTable,
    private readonly writes: GroupCommitter,
    private readonly thread?: SqliteWriterThread,
  ) {}

  async append(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.thread?.usable) await this.thread.appendAudit(records.map(auditRow));
    else await this.writes.submit(() => this.table.insert(records));
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    return this.table.query(query);
  }
}
