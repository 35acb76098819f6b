#!/usr/bin/env node
"use strict";
// `npx strapi-io …`: runs this platform's gateway binary with the same arguments, standard
// streams and exit status; SIGINT, SIGTERM and SIGHUP are passed on to it, and it is stopped
// (SIGTERM) if this wrapper's parent goes away — `npm exec` stops only its own shell on
// SIGTERM, which would otherwise leave the gateway running.

const { spawn } = require("node:child_process");
const { constants } = require("node:os");
const { binaryPath } = require("../index.js");

let bin;
try {
  bin = binaryPath();
} catch (e) {
  console.error(`strapi-io: ${e.message}`);
  process.exit(1);
}

const child = spawn(bin, process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (e) => {
  console.error(`strapi-io: cannot run ${bin}: ${e.message}`);
  process.exit(1);
});
const parent = process.ppid;
const watch = setInterval(() => {
  if (process.ppid !== parent) child.kill("SIGTERM");
}, 1000);
watch.unref();
child.on("exit", (code, signal) => {
  process.exit(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1));
});
