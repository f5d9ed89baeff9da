/**
 * The full battery of conformance checks for the chosen SPEKE versions and DRM systems, in the
 * order they run: valid requests first, then negatives, then encrypted responses.
 */
import type { DrmName } from '../drm-names';
import type { Check } from './check';
import { encryptedChecks } from './encrypted-checks';
import { negativeChecks } from './negative-checks';
import { v1Checks } from './v1-checks';
import { v21TimingChecks } from './v21-timing-checks';
import { v2Checks } from './v2-checks';

/** Every check for the given versions and DRM systems; `only` keeps checks whose name contains one of its parts. */
export function battery(
  versions: ReadonlyArray<'1.0' | '2.0'>,
  drms: readonly DrmName[],
  only?: readonly string[],
): Check[] {
  const checks: Check[] = [];
  if (versions.includes('1.0'))
    checks.push(...v1Checks(drms), ...negativeChecks('1.0', drms), ...encryptedChecks('1.0'));
  if (versions.includes('2.0'))
    checks.push(...v2Checks(drms), ...v21TimingChecks(), ...negativeChecks('2.0', drms), ...encryptedChecks('2.0'));
  if (!only || only.length === 0) return checks;
  return checks.filter((c) => only.some((part) => c.name.includes(part)));
}
