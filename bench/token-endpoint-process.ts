// A token endpoint in a process of its own, for benchmarks whose callers
// must not share their event loop with the server side of a refresh (an
// authorization server is remote in production). It answers every request
// after `delayMs` with new serial tokens that live `lifetimeS` seconds, and
// sends its token URL to the parent over IPC.
import { json, TokenServer } from '../test/support/token-server.js';

/** How the parent configures the endpoint process (JSON in argv[2]). */
export interface TokenEndpointProcessConfig {
  readonly delayMs: number;
  readonly lifetimeS: number;
}

const { delayMs, lifetimeS } = JSON.parse(process.argv[2]!) as TokenEndpointProcessConfig;
const server = await TokenServer.start();
let serial = 0;
server.handler = (_request, res) => {
  setTimeout(
    () => json(res, 200, { access_token: `at-${++serial}`, refresh_token: `rt-${serial}`, expires_in: lifetimeS }),
    delayMs,
  );
};
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
process.send!(server.tokenUrl);
