// The command table: a command runs with only its own module loaded, so each name must map to the module
// that registers it, and every registered command must be in the table.

import { Command } from "commander";
import { describe, expect, test } from "vitest";
import { COMMANDS, registerCommands } from "../../src/cli/commands.js";

const names = (p: Command) => p.commands.map((c) => c.name());

describe("command table", () => {
  test("each name's module registers that command", async () => {
    for (const [name, load] of Object.entries(COMMANDS)) {
      const p = new Command();
      (await load()).register(p);
      expect(names(p), name).toContain(name);
    }
  });
  test("with no command named, every module is registered once and every command is in the table", async () => {
    const p = new Command();
    await registerCommands(p, ["node", "openelm", "--help"]);
    expect(names(p).sort()).toEqual(Object.keys(COMMANDS).sort());
  });
  test("a command named loads only its own module", async () => {
    const p = new Command();
    await registerCommands(p, ["node", "openelm", "tokenize", "hello"]);
    expect(names(p).sort()).toEqual(["detokenize", "tokenize"]);
  });
});
