import * as parseModule from '../../../src/cpix/parse-cpix';
import { createDrmRegistry } from '../../../src/drm/registry';
import type { IssueRequest, IssuedKey, KeyService } from '../../../src/keys/key-service';
import { LocalSpekeEngine } from '../../../src/speke/speke-engine';
import { SpekeService } from '../../../src/speke/speke-service';
import { SETTINGS } from '../drm/context';
import { fixture } from '../../helpers/fixtures';

/** A key service that, like a lost lease race, builds the response twice before committing. */
function racingKeys(): { keys: KeyService; built: string[] } {
  const built: string[] = [];
  const issueWith = async <T>(req: IssueRequest, build: (keys: IssuedKey[]) => T | Promise<T>): Promise<T> => {
    const issued = req.keys.map((k, i) => ({ kid: k.kid, key: Buffer.alloc(16, i + 1), iv: Buffer.alloc(16, i + 9) }));
    let result = await build(issued);
    built.push(String(result));
    result = await build(issued);
    built.push(String(result));
    return result;
  };
  return { keys: { issueWith } as unknown as KeyService, built };
}

describe('SpekeService: a retry after a lost race', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each([
    ['1.0', 'v1/hls-several-keys.xml'],
    ['2.0', 'v2/aws/vod-example.xml'],
  ] as const)('reuses the parsed request (SPEKE %s) and answers the same', async (speke, file) => {
    const parse = jest.spyOn(parseModule, 'parseCpix');
    const { keys, built } = racingKeys();
    const engine = new LocalSpekeEngine(createDrmRegistry(SETTINGS), (r, kid) => `https://k.example/${r}/${kid}`);
    const service = new SpekeService(keys, engine);
    const xml = await service.handle({ body: fixture(file), speke, owner: 'tenant-a', tenant: 'default' });
    expect(parse).toHaveBeenCalledTimes(1);
    expect(built).toHaveLength(2);
    expect(built[0]).toBe(built[1]);
    expect(xml).toBe(built[1]);
  });
});
