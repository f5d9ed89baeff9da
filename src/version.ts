/** The package version, for `Speke-User-Agent` and health output. */
export const VERSION: string = (require('../package.json') as { version: string }).version;
