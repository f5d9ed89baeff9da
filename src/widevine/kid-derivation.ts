/**
 * KIDs of the Widevine API, derived, not stored: HMAC-SHA-256 under a deployment secret of
 * (resource ID, track type, video feature, crypto period), cut to 16 bytes and marked as an RFC 9562 UUIDv8.
 * The same request always names the same KIDs (so the same keys), across processes and restarts, with no
 * table to keep; the secret keeps them unpredictable, so nobody can bind a resource's future KIDs to a
 * resource of their own (through SPEKE) before its packager first asks.
 */
import crypto from 'node:crypto';
import { bytesToUuid } from '../drm/pssh';
import type { TrackType } from './cenc-request';

/** What a derived KID stands for. */
export interface KidLabel {
  resourceId: string;
  track: TrackType;
  /** `video_feature` of the request (ignored for AUDIO, as Widevine's service does). */
  videoFeature?: string;
  /** The crypto period, or undefined for the one key of a request without key rotation. */
  period?: number;
}

/** The KID (lower-case UUID) for a label under `secret`. */
export function deriveKid(secret: Buffer, label: KidLabel): string {
  const feature = label.track === 'AUDIO' ? '' : (label.videoFeature ?? '');
  const period = label.period === undefined ? 'none' : String(label.period);
  const input = JSON.stringify(['keyplane-widevine-kid-v1', label.resourceId, label.track, feature, period]);
  const bytes = crypto.createHmac('sha256', secret).update(input).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  return bytesToUuid(bytes);
}
