// The pass/fail bookkeeping of the hand-run real-Strapi checks (strapi-e2e-check.mjs,
// strapi-e2e-actions.mjs): each check printed as "ok" or "FAIL" with the first lines of its
// error, then "N passed, N failed" and the exit code.

/** `label` prefixes every line (e.g. "[plugin] "). */
export function createChecks(label = "") {
  let passed = 0;
  let failed = 0;
  return {
    async check(name, fn) {
      try {
        await fn();
        passed += 1;
        console.log(`ok   ${label}${name}`);
      } catch (e) {
        failed += 1;
        console.log(`FAIL ${label}${name}\n     ${String(e?.stack ?? e).split("\n").slice(0, 8).join("\n     ")}`);
      }
    },
    /** Prints the tally and exits: 1 when any check failed. */
    finish() {
      console.log(`${passed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
  };
}
