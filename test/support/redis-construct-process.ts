// A process that constructs one RedisTokenStore and reports what happened.
// When the constructor throws, Node is left to exit on its own: if it left a
// socket or a timer behind, the process never exits. A store that was made
// holds its connection open, so then the process exits explicitly.
// Run as: node --conditions=source --import tsx redis-construct-process.ts '<config JSON>'
import { RedisTokenStore, type RedisTokenStoreOptions } from '@refreshkit/redis';

/** Options as JSON: `{ "bytes": n }` stands for a Uint8Array of n bytes. */
export interface ConstructConfig {
  readonly options: Record<string, unknown>;
}

/** What the process prints, as one JSON line. */
export interface ConstructReport {
  readonly error?: { readonly name: string; readonly message: string };
  /** `process.getActiveResourcesInfo()` shortly after the constructor returned or threw. */
  readonly resources: readonly string[];
}

const revive = (_key: string, value: unknown): unknown =>
  typeof value === 'object' && value !== null && 'bytes' in value
    ? new Uint8Array((value as { bytes: number }).bytes)
    : value;

const { options } = JSON.parse(process.argv[2]!, revive) as ConstructConfig;
let error: ConstructReport['error'];
try {
  new RedisTokenStore(options as unknown as RedisTokenStoreOptions);
} catch (caught) {
  error = { name: (caught as Error).name, message: (caught as Error).message };
}
// Let anything the constructor started (a connection attempt) get under way.
await new Promise((resolve) => setTimeout(resolve, 100));
const report: ConstructReport = { ...(error && { error }), resources: process.getActiveResourcesInfo() };
process.stdout.write(`${JSON.stringify(report)}\n`);
if (error === undefined) process.exit(0);
