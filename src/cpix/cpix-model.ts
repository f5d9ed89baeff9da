import type { EncryptionScheme } from '../drm/drm-system';
import type { XmlElement } from './xml-tree';

/** SPEKE generation of a request: v1 (CPIX 2.0 style), v2.0 (CPIX 2.3) or v2.1 (CPIX 2.4). */
export type SpekeVersion = '1.0' | '2.0' | '2.1';

/** The SPEKE v2 generations: they share the v2 contract rules and differ only in their CPIX version. */
export type SpekeV2Version = Exclude<SpekeVersion, '1.0'>;

/** A `cpix:ContentKey` the encoder asked for. */
export interface ContentKeyEntry {
  /** Lower-case UUID. */
  kid: string;
  explicitIV?: Buffer;
  scheme?: EncryptionScheme;
  element: XmlElement;
}

/** A `cpix:DRMSystem` to fill. */
export interface DrmSystemEntry {
  kid: string;
  /** Lower-case UUID. */
  systemId: string;
  element: XmlElement;
}

/** A `cpix:ContentKeyPeriod` (key rotation). */
export interface KeyPeriodEntry {
  id: string;
  index?: number;
  start?: string;
  end?: string;
}

/** A `cpix:ContentKeyUsageRule`. */
export interface UsageRuleEntry {
  kid: string;
  intendedTrackType?: string;
  periodIds: string[];
  element: XmlElement;
}

/** A parsed, validated CPIX request: typed view plus the tree the response is built from. */
export interface CpixRequest {
  speke: SpekeVersion;
  resourceId: string;
  contentKeys: ContentKeyEntry[];
  drmSystems: DrmSystemEntry[];
  periods: KeyPeriodEntry[];
  usageRules: UsageRuleEntry[];
  /** DER of the delivery certificate when the encoder asked for encrypted keys. */
  deliveryCertificate?: Buffer;
  root: XmlElement;
}
