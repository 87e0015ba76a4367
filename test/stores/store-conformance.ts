// The contract every TokenStore meets, as tests. A store package (ours or a
// third party's) runs it with one call:
//
//   describeStoreConformance('MyStore', {
//     shared: true, locks: true, corrupt: true,
//     create: async () => ({ store, peer, corrupt, expireLock, close }),
//   });
//
// Only `@jest/globals` and `@refreshkit/core` are imported, so the file can
// be copied into another repository as it is.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CorruptRecordError, type StoreLock, type TokenRecord, type TokenStore } from '@refreshkit/core';

/** One store under test, made by {@link StoreFactory.create}. */
export interface StoreHarness {
  /** The store under test. */
  readonly store: TokenStore;
  /**
   * A second store instance on the same shared storage (what another
   * process would hold), with its own connections and local copies. Required
   * when {@link StoreFactory.shared}.
   */
  readonly peer?: TokenStore;
  /**
   * Makes the record stored for `key` unreadable while leaving its version
   * readable, and resolves that version. Required when
   * {@link StoreFactory.corrupt}.
   */
  corrupt?(key: string): Promise<number>;
  /**
   * Makes a held lock on `key` lapse now, as if its holder had stopped
   * renewing it and its lifetime had run out. Required when
   * {@link StoreFactory.locks}.
   */
  expireLock?(key: string): Promise<void>;
  /** Closes the store(s) and whatever the harness opened. */
  close(): Promise<void>;
}

/** How to make a store, and what it can do. */
export interface StoreFactory {
  /** Called once for the suite; tests use distinct keys. */
  create(): Promise<StoreHarness>;
  /** Records are shared between store instances (`peer`), as between processes. */
  readonly shared: boolean;
  /** The store implements `lock`. */
  readonly locks: boolean;
  /** The store can hold a record it cannot read (it stores bytes, not objects). */
  readonly corrupt: boolean;
  /**
   * The store's locks report `tookOver`: whether the previous holder's lease
   * ran out without being released.
   */
  readonly tookOver?: boolean;
  /** The store implements `dueBefore` (an index of keep-alive due times). */
  readonly dueBefore: boolean;
  /**
   * Titles of cases this store is known to fail today, each with the reason.
   * They run as `it.failing`: each must still fail, so a fix turns it red
   * until the entry is removed.
   */
  readonly knownGaps?: Readonly<Record<string, string>>;
}

let keyCounter = 0;
/** A key no other test uses, with characters a store must keep exactly. */
function freshKey(): string {
  keyCounter++;
  return `conformance:${process.pid}:${Date.now()}:${keyCounter}:ü €{}*?`;
}

function record(version: number, overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    tokens: {
      accessToken: `access-${version}`,
      refreshToken: `refresh-${version}`,
      expiresAt: 1_900_000_000_000 + version,
      scope: 'read write',
      tokenType: 'bearer',
    },
    version,
    refreshAt: 1_800_000_000_000 + version,
    usableUntil: 1_900_000_000_000 + version,
    ...overrides,
  };
}

/** Resolves once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(signal.reason);
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

/**
 * Tries to take `key`'s lock while another holds it, for `windowMs`: a
 * store that grants it meanwhile fails the test; one that waits rejects
 * with the abort reason once the window ends.
 */
async function expectLockWaits(store: TokenStore, key: string, windowMs = 400): Promise<void> {
  const attempt = store.lock!(key, AbortSignal.timeout(windowMs));
  const outcome = await attempt.then(
    async (lock: StoreLock) => {
      await lock.release();
      return 'granted while held';
    },
    (error: unknown) => ((error as Error).name === 'TimeoutError' ? 'waited' : error),
  );
  expect(outcome).toBe('waited');
}

/**
 * Registers the conformance tests for one store. Cases for a capability the
 * store does not have (sharing, locks, corrupt records) are not registered:
 * they do not apply.
 */
export function describeStoreConformance(name: string, factory: StoreFactory): void {
  describe(`TokenStore conformance: ${name}`, () => {
    let harness: StoreHarness;
    const gaps = factory.knownGaps ?? {};
    const used = new Set<string>();
    /** `it`, or `it.failing` for a listed known gap. */
    const test = (title: string, body: () => Promise<void>): void => {
      used.add(title);
      if (Object.hasOwn(gaps, title)) it.failing(`${title} [known gap: ${gaps[title]}]`, body);
      else it(title, body);
    };
    const peer = (): TokenStore => harness.peer!;

    beforeAll(async () => {
      harness = await factory.create();
    });
    afterAll(async () => {
      await harness?.close();
    });

    it('lists only known gaps that name a case of the suite', () => {
      expect(Object.keys(gaps).filter((title) => !used.has(title))).toEqual([]);
    });

    describe('reads and compare-and-set', () => {
      test('get of a key never written is undefined, fresh or not', async () => {
        const key = freshKey();
        expect(await harness.store.get(key)).toBeUndefined();
        expect(await harness.store.get(key, { fresh: true })).toBeUndefined();
      });

      test('compareAndSet with expectedVersion undefined writes only when nothing is stored', async () => {
        const key = freshKey();
        expect(await harness.store.compareAndSet(key, record(1), undefined)).toBe(true);
        expect(await harness.store.compareAndSet(key, record(2), undefined)).toBe(false);
        expect(await harness.store.get(key)).toEqual(record(1));
        expect(await harness.store.get(key, { fresh: true })).toEqual(record(1));
      });

      test('get returns exactly what was written, fresh or not: tokens, version, schedule, Infinity and flags', async () => {
        const key = freshKey();
        const first = record(1, { usableUntil: Infinity, refreshAt: Infinity });
        expect(await harness.store.compareAndSet(key, first, undefined)).toBe(true);
        expect(await harness.store.get(key)).toEqual(first);
        expect(await harness.store.get(key, { fresh: true })).toEqual(first);
        const dead = record(2, { reauthenticationRequired: true, tokens: { accessToken: 'only-access' } });
        expect(await harness.store.compareAndSet(key, dead, 1)).toBe(true);
        expect(await harness.store.get(key)).toEqual(dead);
        expect(await harness.store.get(key, { fresh: true })).toEqual(dead);
      });

      test('compareAndSet with the stored version writes; versions come back exact up to 2^53 - 1', async () => {
        const key = freshKey();
        const big = Number.MAX_SAFE_INTEGER - 1;
        expect(await harness.store.compareAndSet(key, record(big), undefined)).toBe(true);
        expect(await harness.store.compareAndSet(key, record(big + 1), big)).toBe(true);
        expect((await harness.store.get(key, { fresh: true }))?.version).toBe(Number.MAX_SAFE_INTEGER);
        expect((await harness.store.get(key))?.version).toBe(Number.MAX_SAFE_INTEGER);
      });

      test('compareAndSet with a wrong version writes nothing and resolves false', async () => {
        const key = freshKey();
        await harness.store.compareAndSet(key, record(1), undefined);
        expect(await harness.store.compareAndSet(key, record(3), 2)).toBe(false);
        expect(await harness.store.get(key)).toEqual(record(1));
        expect(await harness.store.get(key, { fresh: true })).toEqual(record(1));
      });

      test('compareAndSet with a version on an absent key writes nothing', async () => {
        const key = freshKey();
        expect(await harness.store.compareAndSet(key, record(2), 1)).toBe(false);
        expect(await harness.store.get(key, { fresh: true })).toBeUndefined();
        expect(await harness.store.get(key)).toBeUndefined();
      });

      test('fencing: of two writers that read the same version, exactly one wins and the other changes nothing', async () => {
        const key = freshKey();
        await harness.store.compareAndSet(key, record(1), undefined);
        const other = factory.shared ? peer() : harness.store;
        const a = record(2, { tokens: { accessToken: 'writer-a', refreshToken: 'rotated-a' } });
        const b = record(2, { tokens: { accessToken: 'writer-b', refreshToken: 'rotated-b' } });
        const results = await Promise.all([harness.store.compareAndSet(key, a, 1), other.compareAndSet(key, b, 1)]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results[0] ? a : b;
        expect(await harness.store.get(key, { fresh: true })).toEqual(winner);
        expect(await other.get(key, { fresh: true })).toEqual(winner);
        // The loser, retrying with what it last saw, is fenced too.
        expect(await harness.store.compareAndSet(key, record(2), 1)).toBe(false);
        expect(await harness.store.get(key)).toEqual(winner);
      });
    });

    describe('delete', () => {
      test('delete removes the record: get is undefined, fresh or not, and the key can be written anew', async () => {
        const key = freshKey();
        await harness.store.compareAndSet(key, record(1), undefined);
        expect(await harness.store.get(key)).toEqual(record(1));
        await harness.store.delete(key);
        expect(await harness.store.get(key)).toBeUndefined();
        expect(await harness.store.get(key, { fresh: true })).toBeUndefined();
        expect(await harness.store.compareAndSet(key, record(2), 1)).toBe(false);
        expect(await harness.store.compareAndSet(key, record(5), undefined)).toBe(true);
        expect(await harness.store.get(key)).toEqual(record(5));
      });

      test('delete of a key never written does nothing and does not throw', async () => {
        const key = freshKey();
        await harness.store.delete(key);
        expect(await harness.store.get(key, { fresh: true })).toBeUndefined();
      });
    });

    describe('grant lifecycle fields', () => {
      test('get returns grant health and the keep-alive due time as written, fresh or not', async () => {
        const key = freshKey();
        const failing: TokenRecord = {
          ...record(1),
          health: {
            state: 'failing',
            code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
            since: 1_000,
            failures: 2,
            nextAttemptAt: 61_000,
          },
          sweepAt: 61_000,
        };
        await harness.store.compareAndSet(key, failing, undefined);
        expect(await harness.store.get(key)).toEqual(failing);
        expect(await harness.store.get(key, { fresh: true })).toEqual(failing);
      });

      if (factory.dueBefore)
        test('dueBefore lists keys due by a time, soonest first, up to the limit, as every write and delete leaves them', async () => {
          const [late, early, never, gone, moved] = [freshKey(), freshKey(), freshKey(), freshKey(), freshKey()];
          await harness.store.compareAndSet(late, { ...record(1), sweepAt: 3_000 }, undefined);
          await harness.store.compareAndSet(early, { ...record(1), sweepAt: 1_000 }, undefined);
          await harness.store.compareAndSet(never, record(1), undefined);
          await harness.store.compareAndSet(gone, { ...record(1), sweepAt: 500 }, undefined);
          await harness.store.delete(gone);
          await harness.store.compareAndSet(moved, { ...record(1), sweepAt: 2_000 }, undefined);
          await harness.store.compareAndSet(moved, { ...record(2), sweepAt: 9_000 }, 1);
          const ours = new Set([late, early, never, gone, moved]);
          const due = async (time: number, limit: number) =>
            (await harness.store.dueBefore!(time, limit)).filter((key) => ours.has(key));
          expect(await due(5_000, 100)).toEqual([early, late]);
          expect(await due(1_000, 100)).toEqual([early]);
          expect((await harness.store.dueBefore!(5_000, 1)).length).toBeLessThanOrEqual(1);
        });
    });

    if (factory.shared)
      describe('shared between instances (as between processes)', () => {
        test('a fresh read sees what another instance wrote, after every write and delete', async () => {
          const key = freshKey();
          expect(await harness.store.get(key)).toBeUndefined();
          await peer().compareAndSet(key, record(1), undefined);
          expect(await harness.store.get(key, { fresh: true })).toEqual(record(1));
          await peer().compareAndSet(key, record(2), 1);
          expect(await harness.store.get(key, { fresh: true })).toEqual(record(2));
          await peer().delete(key);
          expect(await harness.store.get(key, { fresh: true })).toBeUndefined();
        });

        test('a write by one instance is fenced by a newer write from another, even with a cached copy', async () => {
          const key = freshKey();
          await harness.store.compareAndSet(key, record(1), undefined);
          expect(await harness.store.get(key)).toEqual(record(1));
          expect(await peer().compareAndSet(key, record(2), 1)).toBe(true);
          expect(await harness.store.compareAndSet(key, record(2, { tokens: { accessToken: 'stale' } }), 1)).toBe(
            false,
          );
          expect(await harness.store.get(key, { fresh: true })).toEqual(record(2));
          expect(await harness.store.compareAndSet(key, record(3), 2)).toBe(true);
          expect(await peer().get(key, { fresh: true })).toEqual(record(3));
        });
      });

    if (factory.locks)
      describe('locks', () => {
        test('a lock signal already aborted rejects with its reason', async () => {
          const reason = new Error('caller gave up');
          await expect(harness.store.lock!(freshKey(), AbortSignal.abort(reason))).rejects.toBe(reason);
        });

        test('a held lock excludes every other holder, in this instance and another, until released', async () => {
          const key = freshKey();
          const held = await harness.store.lock!(key);
          await expectLockWaits(harness.store, key);
          if (factory.shared) await expectLockWaits(peer(), key);
          await held.release();
          const next = await (factory.shared ? peer() : harness.store).lock!(key);
          await next.release();
        });

        test('a waiter is granted the lock once the holder releases it', async () => {
          const key = freshKey();
          const held = await harness.store.lock!(key);
          const order: string[] = [];
          const waiter = (factory.shared ? peer() : harness.store).lock!(key).then((lock) => {
            order.push('waiter granted');
            return lock;
          });
          // Let the waiter try (and fail) at least once before the release.
          await expectLockWaits(harness.store, key, 200);
          order.push('holder releasing');
          await held.release();
          await (await waiter).release();
          expect(order).toEqual(['holder releasing', 'waiter granted']);
        });

        test('locks on different keys do not exclude each other', async () => {
          const a = await harness.store.lock!(freshKey());
          const b = await harness.store.lock!(freshKey());
          await Promise.all([a.release(), b.release()]);
        });

        test('release twice does not throw, and a lock can be taken again after it', async () => {
          const key = freshKey();
          const held = await harness.store.lock!(key);
          await held.release();
          await held.release();
          await (await harness.store.lock!(key)).release();
        });

        test('a lock whose lifetime ran out can be taken by another, and its old holder cannot release the new one', async () => {
          const key = freshKey();
          const old = await harness.store.lock!(key);
          await harness.expireLock!(key);
          const taker = factory.shared ? peer() : harness.store;
          const current = await taker.lock!(key, AbortSignal.timeout(10_000));
          await old.release();
          await expectLockWaits(harness.store, key);
          await current.release();
        });

        test('a lock that lapsed and was taken by another aborts its `lost` signal', async () => {
          const key = freshKey();
          const old = await harness.store.lock!(key);
          expect(old.lost).toBeInstanceOf(AbortSignal);
          expect(old.lost!.aborted).toBe(false);
          await harness.expireLock!(key);
          const current = await (factory.shared ? peer() : harness.store).lock!(key, AbortSignal.timeout(10_000));
          await aborted(old.lost!);
          expect(old.lost!.aborted).toBe(true);
          await Promise.all([old.release(), current.release()]);
        });

        if (factory.tookOver)
          test('a lock taken after its previous lease ran out unreleased says `tookOver`; one taken after a release does not', async () => {
            const key = freshKey();
            const other = factory.shared ? peer() : harness.store;
            const first = await harness.store.lock!(key);
            expect(first.tookOver).toBe(false);
            await first.release();
            const afterRelease = await other.lock!(key, AbortSignal.timeout(10_000));
            expect(afterRelease.tookOver).toBe(false);
            await harness.expireLock!(key);
            const takenOver = await harness.store.lock!(key, AbortSignal.timeout(10_000));
            expect(takenOver.tookOver).toBe(true);
            await Promise.all([afterRelease.release(), takenOver.release()]);
            const next = await other.lock!(key, AbortSignal.timeout(10_000));
            expect(next.tookOver).toBe(false);
            await next.release();
          });

        test('a held lock stays held (not lost) while its holder keeps it', async () => {
          const key = freshKey();
          const held = await harness.store.lock!(key);
          await expectLockWaits(factory.shared ? peer() : harness.store, key);
          expect(held.lost?.aborted ?? false).toBe(false);
          await held.release();
        });
      });

    if (factory.corrupt)
      describe('corrupt records', () => {
        test('get of a corrupt record throws CorruptRecordError with the stored version, fresh or not', async () => {
          const key = freshKey();
          await harness.store.compareAndSet(key, record(1), undefined);
          await harness.store.compareAndSet(key, record(4), 1);
          const version = await harness.corrupt!(key);
          expect(version).toBe(4);
          // A plain get may answer from a copy the store kept before the
          // corruption; another instance has none.
          const readers = [() => harness.store.get(key, { fresh: true })];
          if (factory.shared) readers.push(() => peer().get(key));
          for (const read of readers) {
            const error = await Promise.resolve()
              .then(read)
              .catch((e: unknown) => e);
            expect(error).toBeInstanceOf(CorruptRecordError);
            expect(error).toMatchObject({ code: 'ERR_CORRUPT_RECORD', key, storedVersion: 4 });
          }
        });

        test('compareAndSet with the stored version overwrites a corrupt record; a wrong one does not', async () => {
          const key = freshKey();
          await harness.store.compareAndSet(key, record(7), undefined);
          const version = await harness.corrupt!(key);
          expect(await harness.store.compareAndSet(key, record(8), undefined)).toBe(false);
          expect(await harness.store.compareAndSet(key, record(8), version + 1)).toBe(false);
          expect(await harness.store.compareAndSet(key, record(8), version)).toBe(true);
          expect(await harness.store.get(key, { fresh: true })).toEqual(record(8));
          expect(await harness.store.get(key)).toEqual(record(8));
        });

        test('delete removes a corrupt record', async () => {
          const key = freshKey();
          await harness.store.compareAndSet(key, record(1), undefined);
          await harness.corrupt!(key);
          await harness.store.delete(key);
          expect(await harness.store.get(key, { fresh: true })).toBeUndefined();
          expect(await harness.store.compareAndSet(key, record(1), undefined)).toBe(true);
        });
      });
  });
}
