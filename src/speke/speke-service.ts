import type { SpekeVersion } from '../cpix/cpix-model';
import type { KeyService } from '../keys/key-service';
import type { SpekeEngine } from './speke-engine';

/** The SPEKE exchange of one request: who asks, what they sent. */
interface SpekeCall {
  body: string;
  speke: SpekeVersion;
  owner: string;
  /** The caller's tenant (see IssueRequest.tenant). */
  tenant: string;
  /** Called once the keys are committed and the response is built (the audit trail of issuance). */
  onIssued?: (resourceId: string, kids: string[]) => Promise<void>;
}

/**
 * Orchestrates a SPEKE exchange: the engine parses the CPIX document and checks every DRM system is known
 * (and, in v2, supports the key's scheme); the key service issues (or re-reads) the keys under the lease
 * rule; the engine signals each DRM system, fills (v1 or v2 style), encrypts the keys to the delivery
 * certificate when the encoder sent one, and serializes.
 */
export class SpekeService {
  constructor(
    private readonly keys: KeyService,
    private readonly engine: SpekeEngine,
  ) {}

  /** Handles one SPEKE request body and returns the response document. */
  async handle(call: SpekeCall): Promise<string> {
    const job = await this.engine.begin(call.body, call.speke);
    try {
      const { plan } = job;
      const issue = {
        resourceId: plan.resourceId,
        owner: call.owner,
        tenant: call.tenant,
        keys: plan.keys,
        rotating: plan.rotating,
      };
      // The response is built before the keys are committed, so a failure while building changes nothing.
      // Building works on a copy of the parsed (immutable) request, so a retry after a lost race reuses it.
      const xml = await this.keys.issueWith(issue, (issued) => job.answer(issued));
      await call.onIssued?.(
        issue.resourceId,
        issue.keys.map((k) => k.kid),
      );
      return xml;
    } finally {
      job.done();
    }
  }

  /** Stops the engine's threads, if it has any. */
  async close(): Promise<void> {
    await this.engine.close?.();
  }
}
