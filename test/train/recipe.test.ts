// The shipped recipes: every one parses and resolves its model; the four CoreNet pre-training presets carry
// exactly the schedule of lr_schedule.json and the published model configs.

import * as fs from "node:fs";
import * as path from "node:path";
import { expect, test } from "vitest";
import { parameterCount } from "../../src/models/config.js";
import { loadRecipe, recipeNames, recipeSchedule } from "../../src/train/recipe.js";
import { TRAIN_FX } from "./train_fixture.js";

test("every shipped recipe loads", () => {
  const names = recipeNames();
  expect(names).toEqual(expect.arrayContaining(["openelm-270M", "openelm-450M", "openelm-1_1B", "openelm-3B", "tiny-cpu"]));
  for (const n of names) expect(loadRecipe(n).config.vocab_size, n).toBe(32000);
});

test("CoreNet presets: schedule = lr_schedule.json, model = the published config", () => {
  const lr = JSON.parse(fs.readFileSync(path.join(TRAIN_FX, "lr_schedule.json"), "utf-8"));
  const published: Record<string, number> = { "270M": 271527168, "450M": 457179136, "1_1B": 1079891456, "3B": 3036647424 };
  for (const [size, params] of Object.entries(published)) {
    const { recipe, config } = loadRecipe(`openelm-${size}`);
    expect(recipeSchedule(recipe)).toEqual(lr.schedules[`OpenELM-${size}`].params);
    expect(parameterCount(config)).toBe(params);
    expect([recipe.context_length, recipe.batch_size * recipe.grad_accumulation, recipe.weight_decay, recipe.grad_clip, recipe.z_loss_coef])
      .toEqual([2048, 2048, 0.1, 1.0, 1e-4]);
    expect(recipe.betas).toEqual([0.9, 0.95]);
  }
});
