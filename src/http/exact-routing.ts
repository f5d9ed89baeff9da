/**
 * Router options every Keyplane router is built with: paths match case-exactly and trailing-slash
 * exactly, so no other spelling of a route (`/KEYS/…`, `/keys/…/`) reaches a handler while escaping
 * the audit's route table or a policy keyed on the path. Pass to `Router(EXACT_ROUTING)`.
 */
export const EXACT_ROUTING = { caseSensitive: true, strict: true } as const;
