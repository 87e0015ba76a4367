/** The reason of an abort that gave none, as `AbortSignal#abort()` makes it. */
export function abortError(): Error {
  return new DOMException('This operation was aborted', 'AbortError');
}
