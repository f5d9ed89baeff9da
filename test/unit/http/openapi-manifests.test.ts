import { routeName } from '../../../src/domain/route-spec';
import { routesOf } from '../../../src/http/feature-manifest';
import { FEATURE_MANIFESTS } from '../../../src/http/manifests';
import { loadOpenApi } from '../../../src/http/public-routes';

// A route is declared once, in its feature's manifest; OpenAPI describes exactly those routes.

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function openApiRoutes(): string[] {
  const paths = (loadOpenApi() as { paths: Record<string, Record<string, unknown>> }).paths;
  return Object.entries(paths)
    .flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((k) => METHODS.includes(k))
        .map((m) => `${m.toUpperCase()} ${path}`),
    )
    .sort();
}

describe('feature manifests and OpenAPI', () => {
  it('declare the same routes (method and path)', () => {
    expect(routesOf(FEATURE_MANIFESTS).map(routeName).sort()).toEqual(openApiRoutes());
  });

  it('declare each route once', () => {
    const names = routesOf(FEATURE_MANIFESTS).map(routeName);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });
});
