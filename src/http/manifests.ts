import type { AppDeps } from '../compose/app';
import { DELIVERY_MANIFEST } from '../delivery/delivery-manifest';
import { SESSIONS_MANIFEST } from '../delivery/session-manifest';
import type { FeatureManifest } from './feature-manifest';
import { SPEKE_MANIFEST } from './speke-routes';

/** Health, heartbeat and the API description: no credential needed. */
const PUBLIC_MANIFEST: FeatureManifest = {
  feature: 'public',
  mounts: [
    {
      name: 'public',
      stage: 'public',
      segments: ['healthz', 'heartbeat', 'openapi.json'],
      build: (deps) =>
        (require('./public-routes') as typeof import('./public-routes')).publicRoutes(deps.store, deps.cipherName),
      routes: [
        { method: 'GET', path: '/healthz', audit: 'none' },
        { method: 'GET', path: '/heartbeat', audit: 'none' },
        { method: 'GET', path: '/openapi.json', audit: 'none' },
      ],
    },
  ],
};

/** Per-resource delivery policies (admin); changes are audited. */
const POLICY_MANIFEST: FeatureManifest = {
  feature: 'policy',
  mounts: [
    {
      name: 'policy',
      stage: 'authenticated',
      segments: ['resources'],
      enabled: (deps) => deps.delivery !== undefined,
      build: (deps) =>
        (require('./policy-routes') as typeof import('./policy-routes')).policyRoutes(
          (deps.delivery as NonNullable<AppDeps['delivery']>).policies,
          deps.store.resources,
        ),
      // Setting or removing a policy is audited (action `configure`); reading one is not.
      routes: (['PUT', 'GET', 'DELETE'] as const).map((method) => ({
        method,
        path: '/resources/{resourceId}/policy',
        audit: method === 'GET' ? ('none' as const) : ('configure' as const),
        params: { resourceId: 'resourceId' },
      })),
    },
  ],
};

/** Static keys, leases, API keys and tenants (admin); static key creation and reads, lease releases and API key changes are audited. */
const ADMIN_MANIFEST: FeatureManifest = {
  feature: 'admin',
  mounts: [
    {
      name: 'admin',
      stage: 'authenticated',
      segments: ['static-keys', 'leases'],
      build: (deps) => (require('./admin-routes') as typeof import('./admin-routes')).adminRoutes(deps),
      routes: [
        { method: 'POST', path: '/static-keys', audit: 'issue' },
        {
          method: 'GET',
          path: '/static-keys/{resourceId}',
          audit: 'deliver',
          params: { resourceId: 'resourceId' },
        },
        { method: 'GET', path: '/leases/{resourceId}', audit: 'none' },
        { method: 'DELETE', path: '/leases/{resourceId}', audit: 'release', params: { resourceId: 'resourceId' } },
      ],
    },
    {
      name: 'apiKeys',
      stage: 'authenticated',
      segments: ['api-keys', 'tenants'],
      build: (deps) => (require('./api-key-routes') as typeof import('./api-key-routes')).apiKeyRoutes(deps),
      routes: [
        { method: 'POST', path: '/api-keys', audit: 'grant' },
        { method: 'GET', path: '/api-keys', audit: 'none' },
        { method: 'DELETE', path: '/api-keys/{id}', audit: 'revoke', params: { apiKeyId: 'id' } },
        { method: 'GET', path: '/tenants', audit: 'none' },
      ],
    },
  ],
};

/** The audit trail's query route (admin), when the app records one. */
const AUDIT_MANIFEST: FeatureManifest = {
  feature: 'audit',
  mounts: [
    {
      name: 'audit',
      stage: 'authenticated',
      segments: ['audit'],
      enabled: (deps: AppDeps) => deps.audit !== undefined,
      build: (deps) =>
        (require('./audit-routes') as typeof import('./audit-routes')).auditRoutes(
          deps.audit as NonNullable<AppDeps['audit']>,
        ),
      routes: [{ method: 'GET', path: '/audit', audit: 'none' }],
    },
  ],
};

/** CPIX by GET (encoder or admin): existing keys as a CPIX 2.3 document; audited as key delivery. */
const CPIX_GET_MANIFEST: FeatureManifest = {
  feature: 'cpix-get',
  mounts: [
    {
      name: 'cpixGet',
      stage: 'authenticated',
      segments: ['cpix'],
      enabled: (deps: AppDeps) => deps.cpixExport !== undefined,
      build: (deps) =>
        (require('./cpix-get-routes') as typeof import('./cpix-get-routes')).cpixGetRoutes({
          cpixExport: deps.cpixExport as NonNullable<AppDeps['cpixExport']>,
          owners: deps.store.resources,
          keys: deps.store.transfer,
        }),
      routes: [{ method: 'GET', path: '/cpix/{resourceId}', audit: 'deliver', params: { resourceId: 'resourceId' } }],
    },
  ],
};

/** The Widevine Common Encryption API (Shaka Packager); 501 until signers are configured (`KEYPLANE_WIDEVINE_*SIGNERS`). */
const WIDEVINE_MANIFEST: FeatureManifest = {
  feature: 'widevine',
  mounts: [
    {
      name: 'widevine',
      stage: 'public',
      segments: ['widevine'],
      build: (deps) =>
        (require('./widevine-routes') as typeof import('./widevine-routes')).widevineRoutes(deps.widevine),
      routes: [{ method: 'POST', path: '/widevine/cenc', audit: 'issue' }],
    },
  ],
};

/** Export and import of keys as CPIX documents (admin), when the store supports bulk transfer. */
const ARCHIVE_MANIFEST: FeatureManifest = {
  feature: 'archive',
  mounts: [
    {
      name: 'archive',
      stage: 'authenticated',
      segments: ['exports', 'imports'],
      enabled: (deps: AppDeps) => deps.archive !== undefined,
      build: (deps) =>
        (require('./archive-routes') as typeof import('./archive-routes')).archiveRoutes(
          deps.archive as NonNullable<AppDeps['archive']>,
          deps.maxBodyBytes,
        ),
      routes: [
        { method: 'GET', path: '/exports/{resourceId}', audit: 'none' },
        { method: 'POST', path: '/imports', audit: 'none' },
      ],
    },
  ],
};

/** Every feature's manifest, in mounting order within each stage: the app, the audit and the tests read these. */
export const FEATURE_MANIFESTS: readonly FeatureManifest[] = [
  PUBLIC_MANIFEST,
  DELIVERY_MANIFEST,
  SPEKE_MANIFEST,
  POLICY_MANIFEST,
  ADMIN_MANIFEST,
  AUDIT_MANIFEST,
  SESSIONS_MANIFEST,
  CPIX_GET_MANIFEST,
  WIDEVINE_MANIFEST,
  ARCHIVE_MANIFEST,
];
