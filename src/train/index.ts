// openelm-ts/train: the training library behind `openelm train`: a trainable OpenELM (forward and
// backward with HF loss semantics, -100 ignored), AdamW with CoreNet's weight-decay groups, CoreNet's
// warmup + cosine schedule, global-norm clipping, HF-layout checkpoints, token data, and the trainer.

export { TrainableOpenELM, hfTargets } from "./openelm_train.js";
export type { ForwardResult } from "./openelm_train.js";
export { AdamW, OPENELM_ADAMW } from "./adamw.js";
export type { AdamWOptions } from "./adamw.js";
export { corenetLr } from "./schedule.js";
export type { CosineSchedule } from "./schedule.js";
export { clipGradNorm, globalGradNorm } from "./grad_clip.js";
export { saveCheckpoint, readTrainerState, restoreCheckpoint, findCheckpoint } from "./checkpoint.js";
export { train, TrainingError } from "./trainer.js";
export type { TrainOptions, TrainResult } from "./trainer.js";
export { loadRecipe, parseRecipe, recipeNames, recipeSchedule } from "./recipe.js";
export type { Recipe } from "./recipe.js";
export { prepareData, openTokenData, PackedSampler } from "./data.js";
