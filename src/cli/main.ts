#!/usr/bin/env node
// openelm: the command-line entry. One file per subcommand; each exports register(program) (commands.ts).
// Typed errors (OpenELMError: bad input) print as one line and exit 1; usage errors exit 2; no stack traces.

import { Command, CommanderError } from "commander";
import { OpenELMError } from "../errors.js";
import { UsageError } from "./args.js";
import { registerCommands } from "./commands.js";
import { installOutputGuards } from "./shutdown.js";

export async function main(argv: string[]): Promise<number> {
  const program = new Command("openelm")
    .description("Apple's OpenELM language models in TypeScript")
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  await registerCommands(program, argv);
  const strict = (c: Command): void => { c.exitOverride().allowExcessArguments(false); c.commands.forEach(strict); };
  program.commands.forEach(strict);
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // --help and --version exit through here with code 0; commander already printed the message.
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof UsageError) {
    process.stderr.write(`error: ${e.message}\n`); // commander's wording for its own usage errors
    return 2;
  }
  if (e instanceof OpenELMError) {
    process.stderr.write(`openelm: ${e.name}: ${e.message}\n`);
    return 1;
  }
  if (e instanceof Error && (e as NodeJS.ErrnoException).code === "ENOENT") {
    process.stderr.write(`openelm: ${e.message}\n`);
    return 1;
  }
  if (e instanceof Error && (e as NodeJS.ErrnoException).code === "EPIPE") return 0;
  process.stderr.write(`openelm: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
  return 70;
}

installOutputGuards();
main(process.argv).then((code) => { process.exitCode = code; });
