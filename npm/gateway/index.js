"use strict";
// Where the strapi-io gateway binary of this machine is: in the platform package npm
// installed beside this one (an optional dependency chosen by its `os` and `cpu` fields), or
// at STRAPI_IO_BINARY_PATH when set (a binary built from source, or another platform's).

const fs = require("node:fs");
const path = require("node:path");

/** `${process.platform} ${process.arch}` → the package holding that platform's binary. */
const PLATFORMS = Object.freeze({
  "linux x64": "@strapi-io/gateway-linux-x64",
  "linux arm64": "@strapi-io/gateway-linux-arm64",
});

/** The absolute path of the gateway binary for this machine; throws an Error saying why not. */
function binaryPath() {
  const override = process.env.STRAPI_IO_BINARY_PATH;
  if (override) {
    const bin = path.resolve(override);
    if (!fs.existsSync(bin)) throw new Error(`STRAPI_IO_BINARY_PATH=${override}: no such file`);
    return bin;
  }
  const platform = `${process.platform} ${process.arch}`;
  const pkg = PLATFORMS[platform];
  if (!pkg) {
    throw new Error(
      `no prebuilt strapi-io binary for ${platform} (there are: ${Object.keys(PLATFORMS).join(", ")}); ` +
        "build one from the repository (cargo build --release) and set STRAPI_IO_BINARY_PATH",
    );
  }
  let dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(
      `${pkg} is not installed: npm installs it with @strapi-io/gateway on ${platform} unless ` +
        "optional dependencies are omitted (--omit=optional, --no-optional); install again without that",
    );
  }
  const bin = path.join(dir, "bin", "strapi-io");
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    if (!fs.existsSync(bin)) throw new Error(`${pkg} has no bin/strapi-io: the package is damaged, install it again`);
    // A package manager that dropped the file's mode: make it executable again.
    fs.chmodSync(bin, 0o755);
  }
  return bin;
}

module.exports = { binaryPath, PLATFORMS };
