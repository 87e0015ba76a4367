import { CorruptRecordError, toTokenSet, type GrantFailure, type TokenRecord } from '@refreshkit/core';
import { isGrantFailure } from '@refreshkit/core/internal';
import type { RecordCipher, SealedTokens } from './record-cipher.js';

/** The `d` field of a record hash. `u` is null for "no known expiry" (JSON has no Infinity). */
interface StoredData {
  readonly t: unknown;
  readonly r: number | null;
  readonly u: number | null;
  readonly x?: 1;
  /** The grant's health (codes and times only, so stored in the clear); absent: healthy. */
  readonly h?: GrantFailure;
  /** The keep-alive due time; absent: never due. */
  readonly s?: number;
}

const toJsonTime = (time: number): number | null => (Number.isFinite(time) ? time : null);
const fromJsonTime = (time: number | null): number => (time === null ? Infinity : time);

/**
 * Turns records into the strings stored in Redis and back, encrypting the
 * token set when a cipher is configured. Reading never trusts the store:
 * anything malformed is a `CorruptRecordError`, never a crash or a partial
 * record.
 */
export class RecordCodec {
  readonly #cipher: RecordCipher | undefined;

  constructor(cipher: RecordCipher | undefined) {
    this.#cipher = cipher;
  }

  /** The `d` field for `record`, stored under Redis key `redisKey`. */
  encode(record: TokenRecord, redisKey: string): string {
    const tokens = JSON.stringify(record.tokens);
    const data: StoredData = {
      t: this.#cipher ? this.#cipher.seal(tokens, redisKey) : record.tokens,
      r: toJsonTime(record.refreshAt),
      u: toJsonTime(record.usableUntil),
      ...(record.reauthenticationRequired && { x: 1 as const }),
      ...(record.health !== undefined && { h: record.health }),
      ...(record.sweepAt !== undefined && { s: record.sweepAt }),
    };
    return JSON.stringify(data);
  }

  /**
   * The record stored as version `version` and data `data`.
   * @throws CorruptRecordError naming `key` when the fields are malformed or
   * fail to decrypt; its `storedVersion` is set when the version is canonical,
   * so that a compare-and-set on it can overwrite the record.
   */
  decode(key: string, redisKey: string, version: string | null, data: string | null): TokenRecord {
    const parsedVersion = canonicalVersion(version);
    if (parsedVersion === undefined) {
      throw new CorruptRecordError(key, 'the version is not a positive integer in canonical form');
    }
    const fail = (why: string, cause?: unknown) =>
      new CorruptRecordError(key, why, { cause, storedVersion: parsedVersion });
    if (data === null) throw fail('the data is missing');
    let stored: StoredData;
    try {
      stored = JSON.parse(data) as StoredData;
    } catch {
      throw fail('the data is not JSON');
    }
    if (typeof stored !== 'object' || stored === null) throw fail('the data is not an object');
    const { r, u } = stored;
    if ((r !== null && typeof r !== 'number') || (u !== null && typeof u !== 'number')) {
      throw fail('the schedule fields are not numbers');
    }
    if (stored.s !== undefined && (typeof stored.s !== 'number' || !Number.isFinite(stored.s))) {
      throw fail('the keep-alive due time is not a number');
    }
    if (stored.h !== undefined && !isGrantFailure(stored.h)) throw fail('the grant health is malformed');
    let tokens: unknown = stored.t;
    const sealed = isSealed(tokens);
    if (this.#cipher !== undefined) {
      if (!sealed) throw fail('it is not encrypted, but an encryption key is configured');
      try {
        tokens = JSON.parse(this.#cipher.open(tokens as SealedTokens, redisKey));
      } catch (error) {
        throw fail((error as Error).message);
      }
    } else if (sealed) {
      throw fail('it is encrypted, but no encryption key is configured');
    }
    let tokenSet;
    try {
      tokenSet = toTokenSet(tokens, 'stored tokens');
    } catch (error) {
      throw fail((error as Error).message);
    }
    return {
      tokens: tokenSet,
      version: parsedVersion,
      refreshAt: fromJsonTime(r),
      usableUntil: fromJsonTime(u),
      ...(stored.x === 1 && { reauthenticationRequired: true }),
      ...(stored.h !== undefined && { health: stored.h }),
      ...(stored.s !== undefined && { sweepAt: stored.s }),
    };
  }
}

const CANONICAL_VERSION = /^[1-9][0-9]{0,15}$/;

/**
 * `version` as a number when it is exactly how the store writes one: a
 * positive safe integer in decimal with no sign, padding, exponent or
 * fraction. Anything else (`01`, `1e0`, ` 1`, `1.0`) would compare unequal
 * as a string in the compare-and-set script while equal as a number here.
 */
export function canonicalVersion(version: string | null): number | undefined {
  if (version === null || !CANONICAL_VERSION.test(version)) return undefined;
  const parsed = Number(version);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

function isSealed(value: unknown): value is SealedTokens {
  const v = value as Partial<SealedTokens> | null;
  return typeof v === 'object' && v !== null && typeof v.k === 'string' && typeof v.c === 'string';
}
