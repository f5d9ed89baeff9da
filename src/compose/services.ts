import cluster from 'node:cluster';
import path from 'node:path';
import { AuditLog } from '../audit/audit-log';
import { retentionDaysOf } from '../audit/audit-retention';
import { ApiKeyService } from '../auth/api-keys';
import type { HttpAuthenticator } from '../http/authenticate';
import { apiKeyAuthenticator } from '../http/authenticators';
import type { AppDeps } from './app';
import type { Config } from '../config';
import { buildDelivery } from './delivery';
import { buildSessions } from './sessions';
import { KeyDelivery } from '../delivery/key-delivery';
import { createDrmRegistry } from '../drm/registry';
import type { EnvelopeCipher } from '../keys/envelope-cipher';
import { KeyArchiveService } from '../keys/key-archive-service';
import { KeyService } from '../keys/key-service';
import { keyUrlBuilder } from '../keys/key-url';
import { localCipherFor } from '../keys/local-cipher';
import { dataDirSealer } from './data-dir-sealer';
import { StaticKeyService } from '../keys/static-key-service';
import { createLogger, type Logger } from '../logger';
import { CpixExportService } from '../speke/cpix-export';
import { SpekeService } from '../speke/speke-service';
import { LocalSpekeEngine } from '../speke/speke-engine';
import { RoutedSpekeEngine } from '../speke/speke-routing';
import { processRateChannel } from '../http/shared-rate-limit';
import { spekeThreadsAvailable, ThreadedSpekeEngine } from '../speke/speke-threads';
import type { Backend } from '../store/backend';
import { WidevineCencService } from '../widevine/cenc-service';
import { WidevineSigners } from '../widevine/request-signers';

/** The adapters a deployment chooses: where keys live and what seals them. */
export interface Backends {
  store: Backend;
  cipher: EnvelopeCipher;
}

/**
 * SQLite in the data dir, pruning audit records past `KEYPLANE_AUDIT_RETENTION_DAYS` in the background
 * (failures logged at warn, deletions at debug); required lazily so the Lambda bundle never loads the
 * native addon.
 */
export function sqliteStore(config: Config, logger: Logger = createLogger(config.logLevel), now?: () => Date): Backend {
  const { openSqliteBackend } = require('../store/sqlite') as typeof import('../store/sqlite');
  const log = logger.child({ component: 'audit-retention' });
  return openSqliteBackend(path.join(config.dataDir, 'keyplane.db'), {
    ...(now ? { now } : {}),
    backgroundCheckpoint: true,
    writerThread: true,
    auditOnWriterThread: config.sqliteWriterThread === 'keys and audit',
    auditRetentionDays: retentionDaysOf(config.auditRetention),
    auditPrune: {
      onPrune: ({ deleted, more, error }) => {
        if (error !== undefined) log.warn({ err: error, deleted }, 'audit prune stopped; retrying at the next run');
        else if (deleted > 0) log.debug({ deleted, more }, 'audit records past retention deleted');
      },
    },
  });
}

/** The standalone backends: SQLite in the data dir and the local master key file. */
export function localBackends(config: Config, now?: () => Date): Backends {
  return {
    store: sqliteStore(config, undefined, now),
    cipher: localCipherFor(config.dataDir, dataDirSealer(config.dataDir)),
  };
}

/** Wires services from config and backends into the app's dependencies. */
export function buildDeps(
  config: Config,
  backends: Backends,
  opts: { logger?: Logger; extraAuthenticators?: HttpAuthenticator[]; now?: () => Date } = {},
): AppDeps {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const { store, cipher } = backends;
  const keys = new KeyService(store, cipher, config.leaseTtlSeconds, opts.now);
  const apiKeys = new ApiKeyService(
    store.apiKeys,
    config.adminKey,
    config.adminKeySha256 === undefined ? undefined : Buffer.from(config.adminKeySha256, 'hex'),
    opts.now,
  );
  const keyUrl = keyUrlBuilder(config.publicUrl, config.keyUrlTemplate);
  const { delivery, authenticators } = buildDelivery(config, store, keys, opts.now);
  const drmSettings = {
    fairplayUriTemplate: config.fairplayUriTemplate,
    fairplaySkdForm: config.fairplaySkdForm,
    widevineProvider: config.widevineProvider,
    playreadyLaUrl: config.playreadyLaUrl,
    clearkeyLicenseUrl: `${config.publicUrl}/clearkey/license`,
  };
  const drm = createDrmRegistry(drmSettings);
  const localSpeke = new LocalSpekeEngine(drm, keyUrl, config.deliveryCertSha256);
  // SPEKE documents are read and answered on worker threads where the compiled build can start them.
  const spekeEngine =
    config.spekeThreads > 0 && spekeThreadsAvailable()
      ? new RoutedSpekeEngine(
          localSpeke,
          new ThreadedSpekeEngine(
            {
              drm: drmSettings,
              publicUrl: config.publicUrl,
              keyUrlTemplate: config.keyUrlTemplate,
              deliveryCertSha256: config.deliveryCertSha256,
            },
            config.spekeThreads,
          ),
          { threads: config.spekeThreads, smallOnThreads: config.spekeSmallOnThreads },
        )
      : localSpeke;
  return {
    store,
    cipherName: cipher.name,
    keys,
    staticKeys: new StaticKeyService(store.staticKeys, keys, store.resources),
    apiKeys,
    speke: new SpekeService(keys, spekeEngine),
    keyDelivery: new KeyDelivery(keys, delivery.policy, store.resources),
    keyUrl,
    authenticators: [...(opts.extraAuthenticators ?? []), ...authenticators, apiKeyAuthenticator(apiKeys)],
    logger,
    maxBodyBytes: config.maxBodyBytes,
    delivery,
    playlists: { ...delivery, publicUrl: config.publicUrl, origin: config.origin },
    sessions: buildSessions(config, delivery, store, opts.now),
    audit: new AuditLog(store.audit, logger, opts.now),
    corsOrigins: config.corsOrigins,
    abuseLimits: config.abuseLimits,
    rateChannel: cluster.isWorker ? processRateChannel() : undefined,
    archive: store.transfer
      ? { service: new KeyArchiveService(store, cipher, opts.now), allowedRecipients: config.deliveryCertSha256 }
      : undefined,
    cpixExport: new CpixExportService(keys, drm, keyUrl, config.deliveryCertSha256, config.cpixDeliveryCertificate),
    ...(config.widevine
      ? {
          widevine: new WidevineCencService(
            keys,
            drm,
            new WidevineSigners(config.widevine.signers),
            config.widevine.kidSecret,
          ),
        }
      : {}),
  };
}
