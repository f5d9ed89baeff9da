/**
 * The DRM systems Keyplane answers for, looked up by CPIX `DRMSystem@systemId`.
 */
import { createClearKey } from './clearkey';
import { commonPssh } from './common-pssh';
import type { DrmSettings, DrmSystem } from './drm-system';
import { createFairPlay } from './fairplay';
import { hlsAes128 } from './hls-aes128';
import { createPlayReady } from './playready';
import { createWidevine } from './widevine';

/** Lookup of DRM modules by system ID. */
interface DrmRegistry {
  /** The module for a system ID (any letter case), or undefined for an unknown system. */
  get(systemId: string): DrmSystem | undefined;
  /** Every module, each once. */
  all(): readonly DrmSystem[];
}

/** A module listed twice under one system ID is a wiring bug, not a request problem. */
class DuplicateSystemIdError extends Error {
  constructor(systemId: string) {
    super(`Two DRM modules claim system ID ${systemId}`);
    this.name = 'DuplicateSystemIdError';
  }
}

/** Indexes modules by lower-case system ID. */
function indexBySystemId(systems: readonly DrmSystem[]): Map<string, DrmSystem> {
  const index = new Map<string, DrmSystem>();
  for (const system of systems) {
    for (const id of system.systemIds) {
      const key = id.toLowerCase();
      if (index.has(key)) throw new DuplicateSystemIdError(key);
      index.set(key, system);
    }
  }
  return index;
}

/** Builds the registry of every supported DRM system from the operator's DRM settings. */
export function createDrmRegistry(settings: DrmSettings): DrmRegistry {
  const systems: readonly DrmSystem[] = Object.freeze([
    hlsAes128,
    createFairPlay(settings),
    createWidevine(settings),
    createPlayReady(settings),
    createClearKey(settings),
    commonPssh,
  ]);
  const index = indexBySystemId(systems);
  return {
    get: (systemId) => index.get(systemId.trim().toLowerCase()),
    all: () => systems,
  };
}
