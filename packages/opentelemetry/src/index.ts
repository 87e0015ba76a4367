export { instrument, type Instrumentation } from './instrument.js';
export type { InstrumentOptions } from './instrument-options.js';
export { ATTR, METRIC, RETRY_EVENT, SCOPE_NAME, SPAN } from './names.js';
