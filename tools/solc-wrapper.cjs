#!/usr/bin/env node
// A solc-compatible command line over the official WebAssembly compiler (npm `solc`).
// Supports what ape-solidity, forge and slither call: `--version` and `--standard-json`
// (input on stdin, output on stdout), with imports resolved from --base-path / --include-path.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

function parseArgs(argv) {
  const opts = { standardJson: false, version: false, basePath: null, includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (a.includes("=")) return a.slice(a.indexOf("=") + 1);
      i += 1;
      return argv[i];
    };
    if (a === "--version" || a === "-v") opts.version = true;
    else if (a === "--standard-json") opts.standardJson = true;
    else if (a.startsWith("--base-path")) opts.basePath = value();
    else if (a.startsWith("--include-path")) opts.includePaths.push(value());
    else if (a.startsWith("--allow-paths")) value();
    // Other flags (e.g. --no-color) have no effect on standard-json output.
  }
  return opts;
}

function findImports(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const file of candidates) {
      if (fs.existsSync(file) && fs.statSync(file).isFile()) {
        return { contents: fs.readFileSync(file, "utf8") };
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(", ")})` };
  };
}

function writeAndExit(text, code) {
  // Never process.exit() before stdout drains: pipes truncate at 64 KiB otherwise.
  process.exitCode = code;
  process.stdout.write(text);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    writeAndExit(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`, 0);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write("solc-wrapper: only --version and --standard-json are supported\n");
    process.exitCode = 1;
    return;
  }
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    const input = Buffer.concat(chunks).toString("utf8");
    const roots = [opts.basePath || process.cwd(), ...opts.includePaths, process.cwd()];
    const output = solc.compile(input, { import: findImports(roots) });
    writeAndExit(output, 0);
  });
}

main();
