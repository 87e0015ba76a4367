/**
 * `@refreshkit/core/internal`: helpers the sibling packages share with core
 * (`@refreshkit/redis`, `@refreshkit/postgres`), so that every package
 * validates options with one message shape, backs off one way and waits one
 * way, keeps held locks alive one way and encrypts records one way. Not public API: no semver promise, and applications should not import it.
 */
export {
  assertFunction,
  assertIntegerInRange,
  assertKey,
  assertNonEmptyString,
  assertNumberInRange,
  assertObject,
  assertOneOf,
  describe,
  integerOption,
  invalid,
  MAX_KEY_LENGTH,
} from '../validate.js';
export { abortable, sleep } from '../abortable.js';
export { backoffDelay, type Backoff, type Jitter } from '../backoff.js';
export { LockWatchdog, type LockWatchdogOptions } from '../lock-watchdog.js';
export { RecordCipher, validateEncryptionKeys, type EncryptionKey, type SealedTokens } from '../record-cipher.js';
export { describeClientError, storeOperation } from '../store-operation.js';
export { isGrantFailure } from '../grant-health.js';
export { WakeRegistry, type PendingWake } from '../wake-registry.js';
export { JsonRecordCodec, type RecordCodec } from '../record-codec.js';
export { unrefTimer } from '../unref-timer.js';
