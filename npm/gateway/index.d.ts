/** `${process.platform} ${process.arch}` → the npm package holding that platform's binary. */
export declare const PLATFORMS: Readonly<Record<string, string>>;
/**
 * The absolute path of the strapi-io gateway binary for this machine (or
 * `STRAPI_IO_BINARY_PATH` when set); throws an Error saying why when there is none.
 */
export declare function binaryPath(): string;
