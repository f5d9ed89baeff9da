import path from 'node:path';

/** Repository root. */
export const ROOT = path.resolve(__dirname, '../..');
/** The compiled standalone server (built by the jest global setup). */
export const DIST_SERVER = path.join(ROOT, 'dist/src/server.js');
/** The workplace's shared folder (moto-server, XSDs): see scripts/shared-dir.js for how it is found. */
export const SHARED: string = (require('../../scripts/shared-dir.js') as { sharedDir: () => string }).sharedDir();
