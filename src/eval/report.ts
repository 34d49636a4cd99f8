// Presenting evaluation results: lm-eval's results table (Tasks | Version | n-shot | Metric | Value | Stderr, as
// utils.make_table prints it) and a results JSON in lm-eval's shape ("results" with "acc,none" keys, "n-shot",
// "config") plus, with --log-samples, per-document samples shaped like lm-eval's --log_samples entries
// (doc_id, doc, target, arguments, resps, filtered_resps, metrics) with our token ids alongside.

import type { EvalResults } from "./evaluate.js";
import type { MetricName } from "./task.js";

/** lm-eval reports TruthfulQA-MC2's score under the name "acc". */
function reportedName(task: string, m: MetricName): string {
  return m === "mc2" ? "acc" : m;
}

function fmt(x: number | null | undefined): string {
  return x === null || x === undefined ? "N/A" : x.toFixed(4);
}

/** The markdown table lm-eval prints after a run. */
export function resultsTable(r: EvalResults): string {
  const rows: string[][] = [];
  for (const t of r.tasks) {
    let first = true;
    for (const m of Object.keys(t.metrics) as MetricName[]) {
      rows.push(first ? [t.name, t.version, "none", String(t.numFewshot)] : ["", "", "none", ""]);
      rows[rows.length - 1].push(reportedName(t.name, m), "↑", fmt(t.metrics[m]), "±", fmt(t.stderr[m]));
      first = false;
    }
  }
  const head = ["Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"];
  const table = [head, ...rows];
  const groupRows: string[][] = [];
  for (const g of r.groups) {
    let first = true;
    for (const m of Object.keys(g.metrics) as MetricName[]) {
      groupRows.push([first ? g.name : "", first ? "N/A" : "", "none", "", reportedName(g.name, m), "↑", fmt(g.metrics[m]), "±", fmt(g.stderr[m])]);
      first = false;
    }
  }
  return markdown(table) + (groupRows.length ? "\n" + markdown([["Groups", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"], ...groupRows]) : "");
}

function markdown(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => [...r[c]].length)));
  const line = (r: string[]) => "|" + r.map((cell, c) => cell + " ".repeat(widths[c] - [...cell].length)).join("|") + "|";
  const sep = "|" + widths.map((w, c) => (c === 6 || c === 8 ? "-".repeat(Math.max(w - 1, 0)) + ":" : "-".repeat(w))).join("|") + "|";
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join("\n") + "\n";
}

export interface ResultsMeta {
  model: string;
  maxLength: number;
  limit?: number;
  numFewshot?: number;
  backend: string;
}

/**
 * The results in the schema of the lm-eval reference file (test/fixtures/eval/expected-tiny-32k.json, format openelm-eval-reference/1),
 * so `eval_ref.py check expected.json ours.json` can compare them: one variant per task, docs with their requests.
 */
export function referenceSchemaJson(r: EvalResults, meta: ResultsMeta): unknown {
  return {
    format: "openelm-eval-reference/1",
    model: meta.model,
    settings: { add_bos_token: true, max_length: meta.maxLength, batch_size: 1, target_delimiter: " ", fewshot_delimiter: "\n\n" },
    variants: r.tasks.map((t) => ({
      task: t.name,
      variant: `${t.numFewshot}-shot`,
      num_fewshot: t.numFewshot,
      metrics: Object.keys(t.metrics),
      aggregate: {
        n: t.samples,
        ...Object.fromEntries(Object.keys(t.metrics).flatMap((m) => {
          const se = t.stderr[m as MetricName];
          return se === null || se === undefined ? [[m, t.metrics[m as MetricName]]] : [[m, t.metrics[m as MetricName]], [`${m}_stderr`, se]];
        })),
      },
      docs: t.docs.map((d) => ({
        doc_index: d.docIndex,
        doc: d.doc,
        ...(t.metrics.mc2 === undefined ? { gold: d.gold, pred: d.pred } : {}),
        ...(d.predNorm !== undefined ? { pred_norm: d.predNorm } : {}),
        ...d.metrics,
        requests: d.requests.map((q, i) => ({
          context: q.context, continuation: q.continuation,
          ...(q.encodedContext !== q.context ? { encoded_context: q.encodedContext, encoded_continuation: q.encodedContinuation } : {}),
          context_ids: q.contextIds, continuation_ids: q.continuationIds,
          input_len: d.results[i].inputLen, truncated: d.results[i].truncated,
          loglikelihood: d.results[i].loglikelihood, is_greedy: d.results[i].isGreedy, token_logprobs: d.results[i].tokenLogprobs,
        })),
      })),
    })),
  };
}

/** The results JSON (lm-eval's keys), with samples when asked. */
export function resultsJson(r: EvalResults, meta: ResultsMeta, logSamples: boolean): unknown {
  const results: Record<string, Record<string, unknown>> = {};
  const nshot: Record<string, number> = {};
  for (const t of r.tasks) {
    const e: Record<string, unknown> = { alias: t.name, samples: t.samples };
    for (const m of Object.keys(t.metrics) as MetricName[]) {
      e[`${reportedName(t.name, m)},none`] = t.metrics[m];
      e[`${reportedName(t.name, m)}_stderr,none`] = t.stderr[m] ?? "N/A";
    }
    results[t.name] = e;
    nshot[t.name] = t.numFewshot;
  }
  const groups: Record<string, Record<string, unknown>> = {};
  for (const g of r.groups) {
    const e: Record<string, unknown> = { alias: g.name, samples: g.samples, members: g.members };
    for (const m of Object.keys(g.metrics) as MetricName[]) {
      e[`${reportedName(g.name, m)},none`] = g.metrics[m];
      e[`${reportedName(g.name, m)}_stderr,none`] = g.stderr[m] ?? "N/A";
    }
    groups[g.name] = e;
  }
  const out: Record<string, unknown> = {
    results, groups, "n-shot": nshot,
    config: {
      model: meta.model, backend: meta.backend, max_length: meta.maxLength, limit: meta.limit ?? null,
      num_fewshot: meta.numFewshot ?? null, add_bos_token: true, batch_size: 1,
      lm_eval_conventions: "EleutherAI/lm-evaluation-harness dc90fecc8ba31b682d30e096980f678c18ddc435",
    },
    tasks: Object.fromEntries(r.tasks.map((t) => [t.name, { source: t.source, fewshot: t.fewshot ?? null }])),
    throughput: {
      seconds: r.seconds, requests: r.stats.requests, requests_per_s: r.stats.requests / r.seconds,
      forward_tokens: r.stats.forwardTokens, input_tokens: r.stats.inputTokens, scored_tokens: r.stats.scoredTokens,
      forward_tokens_saved: r.stats.inputTokens - r.stats.forwardTokens, tokens_per_s: r.stats.forwardTokens / r.seconds,
    },
  };
  if (logSamples) out.samples = Object.fromEntries(r.tasks.map((t) => [t.name, t.docs.map((d) => ({
    doc_id: d.docIndex,
    doc: d.doc,
    target: d.gold,
    arguments: d.requests.map((q) => [q.context, q.continuation]),
    resps: d.results.map((x) => [[x.loglikelihood, x.isGreedy]]),
    filtered_resps: d.results.map((x) => [x.loglikelihood, x.isGreedy]),
    ...Object.fromEntries(Object.entries(d.metrics).map(([m, v]) => [reportedName(t.name, m as MetricName), v])),
    requests: d.requests.map((q, i) => ({
      context_ids: q.contextIds, continuation_ids: q.continuationIds,
      input_len: d.results[i].inputLen, truncated: d.results[i].truncated,
      loglikelihood: d.results[i].loglikelihood, is_greedy: d.results[i].isGreedy, token_logprobs: d.results[i].tokenLogprobs,
    })),
  }))]));
  return out;
}
