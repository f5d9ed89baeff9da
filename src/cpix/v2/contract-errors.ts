import { UnprocessableError } from '../../errors';

/** AWS's exact texts for encryption-contract errors ("SPEKE API v2 - Customizations and constraints"). */
const CONTRACT_MESSAGES = {
  malformed: 'Malformed encryption contract',
  unsupported: 'Requested CPIX encryption contract not supported',
  missing: 'Missing CPIX encryption contract',
} as const;

/** Which of AWS's three contract errors applies. */
type ContractProblem = keyof typeof CONTRACT_MESSAGES;

/**
 * A 422 whose message is AWS's exact text (encoders and AWS's tests compare it) while `reason`
 * (and `kid` when one is at fault) in the JSON body tell a human what to fix.
 */
export function contractError(problem: ContractProblem, reason: string, kid?: string): UnprocessableError {
  return new UnprocessableError(CONTRACT_MESSAGES[problem], kid === undefined ? { reason } : { reason, kid });
}
