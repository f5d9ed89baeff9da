import type { EncryptionScheme } from '../drm/drm-system';
import type { ReadonlyXmlElement } from './xml-tree';

/** SPEKE generation of a request: v1 (CPIX 2.0 style), v2.0 (CPIX 2.3) or v2.1 (CPIX 2.4). */
export type SpekeVersion = '1.0' | '2.0' | '2.1';

/** The SPEKE v2 generations: they share the v2 contract rules and differ only in their CPIX version. */
export type SpekeV2Version = Exclude<SpekeVersion, '1.0'>;

/** A `cpix:ContentKey` the encoder asked for. */
export interface ContentKeyEntry {
  /** Lower-case UUID. */
  readonly kid: string;
  readonly explicitIV?: Buffer;
  readonly scheme?: EncryptionScheme;
  readonly element: ReadonlyXmlElement;
}

/** A `cpix:DRMSystem` to fill. */
export interface DrmSystemEntry {
  readonly kid: string;
  /** Lower-case UUID. */
  readonly systemId: string;
  readonly element: ReadonlyXmlElement;
}

/** A `cpix:ContentKeyPeriod` (key rotation). */
export interface KeyPeriodEntry {
  readonly id: string;
  readonly index?: number;
  readonly start?: string;
  readonly end?: string;
  /** SPEKE v2.1 VOD: xs:duration from the start of the content. */
  readonly startOffset?: string;
  readonly endOffset?: string;
}

/** A `cpix:ContentKeyUsageRule`. */
export interface UsageRuleEntry {
  readonly kid: string;
  readonly intendedTrackType?: string;
  readonly periodIds: readonly string[];
  readonly element: ReadonlyXmlElement;
}

/**
 * A parsed, validated CPIX request: typed view plus the tree the response is built from. Immutable
 * (read-only types, checked by the compiler, not frozen at run time): response builders work on a copy of `root`, so one parsed
 * request can be answered any number of times (a SPEKE retry after a lost lease race does not re-parse).
 */
export interface CpixRequest {
  readonly speke: SpekeVersion;
  readonly resourceId: string;
  readonly contentKeys: readonly ContentKeyEntry[];
  readonly drmSystems: readonly DrmSystemEntry[];
  readonly periods: readonly KeyPeriodEntry[];
  readonly usageRules: readonly UsageRuleEntry[];
  /** DER of the delivery certificate when the encoder asked for encrypted keys. */
  readonly deliveryCertificate?: Buffer;
  readonly root: ReadonlyXmlElement;
}
