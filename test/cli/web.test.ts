// `openelm web` from an installed package: its dist/web has no model files (package.json "files" leaves them out,
// the package ships them once under assets/), so the server takes the files of the built page's embedded model
// and default-instruct adapter folders (models/default-<hash>/, models/default-instruct-<hash>/) from assets/.

import * as fs from "node:fs";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, expect, test } from "vitest";
import { createWebServer } from "../../src/cli/web.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-web-serve-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("the built page's model and adapter files are served from assets/ when dist/web lacks them", async () => {
  const built = "dist/web/models"; // made by npm run build (web/build.mjs)
  const folders = fs.readdirSync(built);
  expect(folders.filter((f) => /^default-[0-9a-f]+$/.test(f))).toHaveLength(1);
  expect(folders.filter((f) => /^default-instruct-[0-9a-f]+$/.test(f))).toHaveLength(1);
  fs.writeFileSync(path.join(tmp, "index.html"), "<!doctype html>");
  const server = createWebServer(tmp);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let files = 0;
    for (const f of folders) for (const name of fs.readdirSync(path.join(built, f))) {
      const r = await fetch(`${base}/models/${f}/${name}`);
      expect(r.status, `${f}/${name}`).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(fs.readFileSync(path.join(built, f, name))), `${f}/${name}`).toBe(true);
      files++;
    }
    expect(files).toBe(5); // config, generation config, weights; adapter config, adapter weights
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
