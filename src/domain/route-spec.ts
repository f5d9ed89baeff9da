import type { ChangeAction } from '../audit/audit-record';
import { RESOURCE_ID_PATTERN, UUID_PATTERN } from './ids';

/** What the audit trail records for a route: key issuance, key delivery, an admin change, or nothing. */
export type RouteAuditAction = 'issue' | 'deliver' | ChangeAction | 'none';

/** The facts a request path can tell about the key (or API key) it is after, by role. */
type PathFact = 'resourceId' | 'kid' | 'pathToken' | 'secureClient' | 'apiKeyId';

/** One route as a feature manifest declares it (the same method and path as in `openapi/openapi.yaml`). */
export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS';
  /** OpenAPI-style path template, e.g. `/keys/{resourceId}/{kid}`; a last `{path}` may span segments. */
  path: string;
  audit: RouteAuditAction;
  /** Which path parameter holds each fact (e.g. `{ pathToken: 'token' }`); absent facts are unknown. */
  params?: Partial<Record<PathFact, string>>;
  /** Whether the last parameter takes the rest of the path (several segments). */
  rest?: boolean;
}

/** A request recognised as one manifest route: its name (`GET /keys/{resourceId}/{kid}`) and path facts. */
export interface RouteMatch {
  route: string;
  audit: RouteAuditAction;
  resourceId?: string;
  kid?: string;
  pathToken?: string;
  secureClient?: string;
  /** The API key an admin change names (`DELETE /api-keys/{id}`), as sent, at most 64 characters. */
  apiKeyId?: string;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A segment's regex: `{a}_{b}` → `([^/_]+)_([^/]+)`; each parameter stops at the literal that follows it. */
function segmentPattern(segment: string, restParam: string | undefined, names: string[]): string {
  const parts = segment.split(/(\{[^}]+\})/).filter((p) => p !== '');
  return parts
    .map((part, i) => {
      const param = /^\{([^}]+)\}$/.exec(part)?.[1];
      if (param === undefined) return escape(part);
      names.push(param);
      if (param === restParam) return '(.+)';
      const next = parts[i + 1];
      return next === undefined ? '([^/]+)' : `([^/${escape(next[0] as string)}]+)`;
    })
    .join('');
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return '';
  }
}

interface CompiledRoute {
  spec: RouteSpec;
  name: string;
  pattern: RegExp;
  names: string[];
}

function compile(spec: RouteSpec): CompiledRoute {
  const names: string[] = [];
  const restParam = spec.rest ? /\{([^}]+)\}$/.exec(spec.path)?.[1] : undefined;
  const body = spec.path
    .split('/')
    .map((segment) => segmentPattern(segment, restParam, names))
    .join('/');
  // Exact, as Express routes with EXACT_ROUTING: same case, no extra trailing slash, no encoded literal.
  return { spec, name: routeName(spec), pattern: new RegExp(`^${body}$`), names };
}

/** The routes of every manifest, matched exactly (whole path, as Express routes it) by method and path. */
export class RouteTable {
  private readonly routes: CompiledRoute[];

  constructor(specs: readonly RouteSpec[]) {
    this.routes = specs.map(compile);
  }

  /** The route a request reaches, with the path facts its manifest names (IDs validated, KID lower-cased). */
  match(method: string, path: string): RouteMatch | undefined {
    for (const r of this.routes) {
      const m = r.spec.method === method ? r.pattern.exec(path) : null;
      if (!m) continue;
      const values = new Map(r.names.map((name, i) => [name, decode(m[i + 1] ?? '')]));
      const fact = (f: PathFact) => {
        const name = r.spec.params?.[f];
        return name === undefined ? undefined : values.get(name);
      };
      const resourceId = fact('resourceId');
      const kid = fact('kid');
      const pathToken = fact('pathToken');
      const secureClient = fact('secureClient');
      const apiKeyId = fact('apiKeyId');
      return {
        route: r.name,
        audit: r.spec.audit,
        ...(resourceId !== undefined && RESOURCE_ID_PATTERN.test(resourceId) ? { resourceId } : {}),
        ...(kid !== undefined && UUID_PATTERN.test(kid) ? { kid: kid.toLowerCase() } : {}),
        ...(pathToken ? { pathToken } : {}),
        ...(secureClient ? { secureClient } : {}),
        ...(apiKeyId ? { apiKeyId: apiKeyId.slice(0, 64) } : {}),
      };
    }
    return undefined;
  }
}

/** A route's name in the audit trail and OpenAPI terms: `GET /keys/{resourceId}/{kid}`. */
export function routeName(spec: Pick<RouteSpec, 'method' | 'path'>): string {
  return `${spec.method} ${spec.path}`;
}
