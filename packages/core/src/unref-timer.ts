/** Lets the runtime exit while `timer` is pending, where the runtime supports it. */
export function unrefTimer(timer: unknown): void {
  (timer as { unref?: () => void } | undefined)?.unref?.();
}
