import path from 'node:path';

/** Repository root. */
export const ROOT = path.resolve(__dirname, '../..');
/** The compiled standalone server (built by the jest global setup). */
export const DIST_SERVER = path.join(ROOT, 'dist/src/server.js');
/** The shared folder beside the repository (moto-server, XSDs). */
export const SHARED = path.resolve(ROOT, '../shared');
