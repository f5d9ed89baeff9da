import { routeTableOf } from '../../../src/http/feature-manifest';
import { FEATURE_MANIFESTS } from '../../../src/http/manifests';

const table = routeTableOf(FEATURE_MANIFESTS);
const KID = '11111111-2222-4333-8444-555555555555';

describe('the route table the audit derives from the manifests', () => {
  it('names the route and the path facts the manifest declares', () => {
    expect(table.match('GET', `/keys/vod-1/${KID.toUpperCase()}`)).toEqual({
      route: 'GET /keys/{resourceId}/{kid}',
      audit: 'deliver',
      resourceId: 'vod-1',
      kid: KID,
    });
    expect(table.match('GET', `/playback/a.b.c/keys/vod-1/${KID}`)).toMatchObject({
      route: 'GET /playback/{token}/keys/{resourceId}/{kid}',
      pathToken: 'a.b.c',
    });
    expect(table.match('GET', `/secure/cms-1_vod_1/tok/123/keys/${KID}`)).toMatchObject({
      route: 'GET /secure/{clientId}_{resourceId}/{token}/{expires}/keys/{kid}',
      secureClient: 'cms-1',
      resourceId: 'vod_1',
    });
    expect(table.match('GET', '/playback/t/hls/vod-1/a/b/index.m3u8')).toMatchObject({
      audit: 'deliver',
      resourceId: 'vod-1',
      pathToken: 't',
    });
    expect(table.match('POST', '/static-keys')).toMatchObject({ audit: 'issue' });
  });

  it('matches whole paths only, by method', () => {
    expect(table.match('GET', `/keys/vod-1/${KID}/extra`)).toBeUndefined();
    expect(table.match('GET', `/prefix/keys/vod-1/${KID}`)).toBeUndefined();
    // Exact like Express with EXACT_ROUTING: case, trailing slash and encoded literals do not match.
    expect(table.match('GET', `/keys/vod-1/${KID}/`)).toBeUndefined();
    expect(table.match('GET', `/KEYS/vod-1/${KID}`)).toBeUndefined();
    expect(table.match('GET', `/%6beys/vod-1/${KID}`)).toBeUndefined();
    expect(table.match('GET', `//keys/vod-1/${KID}`)).toBeUndefined();
    expect(table.match('POST', `/keys/vod-1/${KID}`)).toBeUndefined();
    expect(table.match('POST', '/clearkey/licenses')).toBeUndefined();
  });

  it('leaves out facts that are not valid IDs', () => {
    expect(table.match('GET', '/keys/bad%20id/not-a-kid')).toEqual({
      route: 'GET /keys/{resourceId}/{kid}',
      audit: 'deliver',
    });
  });
});
