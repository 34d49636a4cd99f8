// A multiple-choice task as lm-evaluation-harness's ConfigurableTask (output_type: multiple_choice) sees it
// at commit dc90fec: doc_to_text / doc_to_choice / doc_to_target over HF-style documents, an optional
// description, and where few-shot examples come from. A task is data plus these functions; the request
// builder, the scorer and the metrics never look inside a document.

/** A document with the field names of the Hugging Face dataset lm-eval reads (e.g. `question`, `choices`). */
export type Doc = Record<string, unknown>;

export type MetricName = "acc" | "acc_norm" | "mc2";

/** Documents and where they came from (a file path, or hf://owner/name/config/split). */
export interface DocSet<D = Doc> {
  docs: D[];
  source: string;
}

/** lm-eval's few-shot sampler names: "default" = random.Random(1234).sample, "first_n" = the first k in order. */
export type SamplerName = "default" | "first_n";

export interface FewshotPool<D = Doc> extends DocSet<D> {
  sampler: SamplerName;
  /**
   * lm-eval draws k+1 and drops the evaluated document when `fewshot_split == test_split` in the task
   * config (true for HellaSwag, PIQA, BoolQ, WinoGrande, whose configs set neither).
   */
  drawExtra: boolean;
}

export interface TaskData<D = Doc> {
  eval: DocSet<D>;
  /** The split shots are drawn from; undefined when the source has none (then the first-k substitute applies). */
  fewshot?: FewshotPool<D>;
}

/** Where lm-eval gets the task on the Hugging Face hub (for reading its parquet files from the HF cache). */
export interface HubDataset<D = Doc> {
  /** Dataset repo id, e.g. "allenai/ai2_arc". */
  repo: string;
  /** Config (subset) name, e.g. "ARC-Easy"; undefined for single-config datasets. */
  config?: string;
  evalSplit: string;
  /** Training / dev split used for shots, with its sampler. */
  fewshotSplit?: string;
  sampler?: SamplerName;
  drawExtra?: boolean;
  /** Rows to documents (default: the row itself). */
  fromRow?: (row: Doc) => D;
  /**
   * Where the parquet files are on the hub, for the `openelm download` command that fetches them: a revision
   * and file globs. Default: the hub's parquet export (refs/convert/parquet), `<config or default>/**`.
   */
  files?: { revision?: string; include: string[] };
}

export interface MultipleChoiceTask<D = Doc> {
  name: string;
  /** The YAML's metadata.version at dc90fec (shown in the results table). */
  version: string;
  metrics: readonly MetricName[];
  /** The rendered description (Jinja already applied, so MMLU's "\n\n" has become "\n"). */
  description?: string;
  /** A YAML `num_fewshot` that wins over --num-fewshot (TruthfulQA: 0). */
  fixedNumFewshot?: number;
  /** Between context and choice (lm-eval's target_delimiter); default " ". */
  targetDelimiter?: string;
  /** The files this task reads under --data-dir (for messages and docs). */
  localFiles: readonly string[];
  /** Read the original local file formats under dataDir (throws DataError naming file and line). */
  loadLocal(dataDir: string): TaskData<D>;
  hub?: HubDataset<D>;
  /** The prompt; a number means "choice i is the context" (WinoGrande's partial scoring). */
  docToText(doc: D): string | number;
  docToChoice(doc: D): string[];
  /** Gold choice index, or the continuation text when docToText returns a number. */
  docToTarget(doc: D): number | string;
  /** Task-specific metrics (TruthfulQA-MC2) instead of acc / acc_norm. */
  processResults?(doc: D, lls: number[]): Partial<Record<MetricName, number>>;
}

/** A group of tasks whose metrics are pooled by size (lm-eval's `group:`), possibly nested (mmlu → mmlu_stem → subjects). */
export interface TaskGroup {
  name: string;
  members: Array<MultipleChoiceTask<any> | TaskGroup>;
}

export function isGroup(x: MultipleChoiceTask<any> | TaskGroup): x is TaskGroup {
  return (x as TaskGroup).members !== undefined;
}
