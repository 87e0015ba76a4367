// Every outbound HTTP client adapter against the one conformance suite: the
// next client is one more entry in this list.
import { AXIOS_CLIENTS } from './clients/axios.js';
import { describeClientConformance } from './clients/client-conformance.js';
import { describeClientDpopConformance } from './clients/client-dpop-conformance.js';
import { GOT_CLIENTS } from './clients/got.js';
import { UNDICI_CLIENTS } from './clients/undici.js';

for (const client of [...UNDICI_CLIENTS, ...AXIOS_CLIENTS, ...GOT_CLIENTS]) {
  describeClientConformance(client);
  describeClientDpopConformance(client);
}
