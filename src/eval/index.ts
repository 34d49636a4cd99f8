// openelm-ts/eval: lm-evaluation-harness-exact multiple-choice scoring and perplexity. Pass a loaded
// model's network and tokenizer: `evaluate(model.network, model.tokenizer, ["arc_easy"], { dataDir })`.

export { evaluate } from "./evaluate.js";
export type { EvalOptions, EvalResults, TaskResult, GroupResult, Progress } from "./evaluate.js";
export { perplexity, rollingWindows } from "./perplexity.js";
export type { PerplexityOptions, PerplexityResult } from "./perplexity.js";
export { knownTaskNames, resolveTask } from "./tasks/index.js";
export { resultsTable, resultsJson } from "./report.js";
export type { LogitsModel } from "./loglik.js";
