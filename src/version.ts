import pkg from '../package.json';

/** The package version, for `Speke-User-Agent` and health output. */
export const VERSION: string = pkg.version;
