// Bounded waits, shared by every end-to-end suite (tests/js and clients/js): nothing here
// waits without a limit. Node built-ins only.

/** Default bound for every wait, in milliseconds. */
export const WAIT_MS = 5000;

/** Rejects with a clear message when `promise` does not settle within `ms`. */
export function withTimeout(promise, ms = WAIT_MS, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `probe()` until it returns a truthy value (returned), bounded by `ms`. */
export async function waitUntil(probe, { ms = WAIT_MS, every = 50, what = "condition" } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
