/** Builds the key URL written into playlists: Keyplane's delivery route or the operator's proxy template. */
export function keyUrlBuilder(publicUrl: string, template?: string): (resourceId: string, kid: string) => string {
  if (template) {
    return (resourceId, kid) =>
      template.replaceAll('{resourceId}', encodeURIComponent(resourceId)).replaceAll('{kid}', encodeURIComponent(kid));
  }
  return (resourceId, kid) => `${publicUrl}/keys/${encodeURIComponent(resourceId)}/${kid}`;
}
