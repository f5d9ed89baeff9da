import { unknownVariables } from '../../../src/config/unknown-variables';

// The names come from the loader's and CLI's own files: real settings pass, typos are caught with a hint.

it('passes the settings Keyplane reads and names the others, with the nearest known name', () => {
  const env = {
    KEYPLANE_DATA_DIR: 'd',
    KEYPLANE_PORT: '1',
    KEYPLANE_URL: 'http://x',
    KEYPLANE_API_KEY: 'k',
    KEYPLANE_DATADIR: 'd',
    KEYPLANE_ZZZZZZZZZZZZZZZZZ: '1',
    PATH: '/bin',
  };
  expect(unknownVariables(env)).toEqual([
    { name: 'KEYPLANE_DATADIR', didYouMean: 'KEYPLANE_DATA_DIR' },
    { name: 'KEYPLANE_ZZZZZZZZZZZZZZZZZ' },
  ]);
});
