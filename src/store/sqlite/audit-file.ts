import Database from 'better-sqlite3';
import { enableWal } from './wal-mode';

/** Where a store file keeps its audit trail: `keyplane.db` → `keyplane-audit.db`. */
export function auditFileOf(file: string): string {
  return file.endsWith('.db') ? `${file.slice(0, -3)}-audit.db` : `${file}-audit`;
}

/**
 * The audit trail's own database file and connection, WAL with synchronous=NORMAL: its commits reach
 * the operating system (they survive `kill -9` of the process) without an fsync of their own and become
 * power-safe at the next checkpoint. Every key delivery writes an audit record, so an fsync per delivery
 * batch, and the key file's page cache being dropped on every audit commit (SQLite resets a connection's
 * cache when another connection changed the file), cost about a fifth of a delivery. Keys, leases and
 * API keys keep synchronous=FULL in the main file. Audit rows an earlier version kept in the main file
 * are moved over on open.
 */
export function openAuditDatabase(file: string, timeout: number): Database.Database {
  const db = new Database(auditFileOf(file), { timeout });
  enableWal(db, timeout);
  db.pragma('synchronous = NORMAL');
  db.pragma('temp_store = MEMORY');
  return db;
}

/** Moves audit rows from the main file (where versions before 0.1.0's release kept them) to the audit file. */
export function moveLegacyAudit(main: Database.Database, auditFile: string): void {
  const legacy = main.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").get();
  if (!legacy) return;
  main.prepare('ATTACH DATABASE ? AS audit_file').run(auditFile);
  try {
    main
      .transaction(() => {
        main.exec('INSERT OR IGNORE INTO audit_file.audit SELECT * FROM main.audit; DROP TABLE IF EXISTS main.audit');
      })
      .immediate();
  } finally {
    main.exec('DETACH DATABASE audit_file');
  }
}
