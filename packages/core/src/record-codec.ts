import { CorruptRecordError } from './errors.js';
import { isGrantFailure, type GrantFailure } from './grant-health.js';
import type { RecordCipher, SealedTokens } from './record-cipher.js';
import { toTokenSet } from './token-set.js';
import type { TokenRecord } from './token-store.js';

/**
 * Turns a record into the string a shared store keeps and back (the `d`
 * field of a Redis hash, the `data` column of a PostgreSQL row: one format,
 * one implementation). The version is not
 * part of it: stores keep the version in a column (or field) of its own, so
 * compare-and-set can compare it and a corrupt record's version stays
 * readable.
 */
export interface RecordCodec {
  /** The stored string for `record`, bound to `associatedData` (the record's key) when encrypted. */
  encode(record: TokenRecord, associatedData: string): Promise<string>;
  /**
   * The record stored as `data` with version `version`.
   * @throws CorruptRecordError naming `key`, with `storedVersion: version`, when `data` is malformed or fails to decrypt.
   */
  decode(key: string, associatedData: string, version: number, data: string): Promise<TokenRecord>;
}

/** The stored JSON. `r`/`u` are null for "never"/"no known expiry" (JSON has no Infinity). */
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

function isSealed(value: unknown): value is SealedTokens {
  const v = value as Partial<SealedTokens> | null;
  return typeof v === 'object' && v !== null && typeof v.k === 'string' && typeof v.c === 'string';
}

/**
 * The JSON codec, encrypting the token set when a cipher is given. Reading
 * never trusts the store: anything malformed is a `CorruptRecordError`,
 * never a crash or a partial record.
 */
export class JsonRecordCodec implements RecordCodec {
  readonly #cipher: RecordCipher | undefined;

  constructor(cipher: RecordCipher | undefined) {
    this.#cipher = cipher;
  }

  /** {@inheritDoc RecordCodec.encode} */
  async encode(record: TokenRecord, associatedData: string): Promise<string> {
    const data: StoredData = {
      t: this.#cipher ? await this.#cipher.seal(JSON.stringify(record.tokens), associatedData) : record.tokens,
      r: toJsonTime(record.refreshAt),
      u: toJsonTime(record.usableUntil),
      ...(record.reauthenticationRequired && { x: 1 as const }),
      ...(record.health !== undefined && { h: record.health }),
      ...(record.sweepAt !== undefined && { s: record.sweepAt }),
    };
    return JSON.stringify(data);
  }

  /** {@inheritDoc RecordCodec.decode} */
  async decode(key: string, associatedData: string, version: number, data: string): Promise<TokenRecord> {
    const fail = (why: string) => new CorruptRecordError(key, why, { storedVersion: version });
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
        tokens = JSON.parse(await this.#cipher.open(tokens as SealedTokens, associatedData));
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
      version,
      refreshAt: fromJsonTime(r),
      usableUntil: fromJsonTime(u),
      ...(stored.x === 1 && { reauthenticationRequired: true }),
      ...(stored.h !== undefined && { health: stored.h }),
      ...(stored.s !== undefined && { sweepAt: stored.s }),
    };
  }
}
