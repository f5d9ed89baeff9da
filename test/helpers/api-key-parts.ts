/** Splits a `kp_<id>_<secret>` key the way the server does: the base64url secret may itself hold `_`. */
export function apiKeyParts(key: string): { id: string; secret: string } {
  const match = /^kp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(key);
  if (!match) throw new Error('not an API key');
  return { id: match[1] as string, secret: match[2] as string };
}
