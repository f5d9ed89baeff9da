import fs from 'node:fs';

/** The files SQLite keeps next to a database file in WAL mode. */
const SIDE_FILES = ['-wal', '-shm', '-journal'];

/**
 * Makes a SQLite database file, and any side file already there, mode 0600 before SQLite opens it.
 * SQLite creates a new database file with 0644 whatever the umask (it fchmods to its default), and
 * gives the `-wal`/`-shm` files the mode of the database file: so creating the database file 0600
 * first keeps every file of it private, even in a 0777 data directory or under `umask 0`. A file
 * owned by another user (a read-only deployment) is left as it is.
 */
export function makePrivateDatabaseFile(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  } catch (error) {
    // Not ours to write (read-only file or file system): SQLite reports what it can and cannot do.
    if (['EACCES', 'EROFS', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) return;
    throw error;
  }
  try {
    restrict(fd);
  } finally {
    fs.closeSync(fd);
  }
  for (const suffix of SIDE_FILES) {
    let side: number;
    try {
      side = fs.openSync(file + suffix, fs.constants.O_RDONLY);
    } catch {
      continue;
    }
    try {
      restrict(side);
    } finally {
      fs.closeSync(side);
    }
  }
}

function restrict(fd: number): void {
  if ((fs.fstatSync(fd).mode & 0o077) === 0) return;
  try {
    fs.fchmodSync(fd, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
}
