// config.json + weights -> OpenELMModel. Checks that every expected tensor is present with the shape
// the config implies and that nothing unexpected is there, before any weight reaches a backend.

import * as fs from "node:fs";
import type { Backend } from "../kernels/backend.js";
import { createRefBackend } from "../kernels/ref/index.js";
import { CheckpointError } from "../errors.js";
import type { StoredTensor } from "../tensor/tensor.js";
import type { WeightType } from "../io/gguf_quantize.js";
import { openCheckpointFiles, type GenerationConfig } from "../io/model_dir.js";
import type { ByteSource, ModelFiles } from "../io/byte_source.js";
import { directoryFiles, fileSource } from "../io/file_source.js";
import { openGgufCheckpointSource } from "../io/gguf_openelm.js";
import { quantizeTensors } from "../io/gguf_quantize.js";
import { BUNDLED_TOKENIZER_MODEL, tokenizerModelFromVocabOn } from "../io/gguf_vocab.js";
import { layerSizes, type OpenELMConfig } from "./config.js";
import { OpenELMModel, type LayerWeights } from "./openelm.js";

/** Tensor name -> shape for a config, in checkpoint order (names as in HF modeling_openelm.py). */
export function expectedShapes(c: OpenELMConfig): Map<string, number[]> {
  const D = c.model_dim, hd = c.head_dim, m = new Map<string, number[]>();
  m.set("transformer.token_embeddings.weight", [c.vocab_size, D]);
  for (let i = 0; i < c.num_transformer_layers; i++) {
    const { nQ, nKV, ffnDim: F } = layerSizes(c, i), p = `transformer.layers.${i}.`;
    m.set(p + "attn_norm.weight", [D]);
    m.set(p + "attn.qkv_proj.weight", [(nQ + 2 * nKV) * hd, D]);
    if (c.normalize_qk_projections) {
      m.set(p + "attn.q_norm.weight", [hd]);
      m.set(p + "attn.k_norm.weight", [hd]);
    }
    m.set(p + "attn.out_proj.weight", [D, nQ * hd]);
    m.set(p + "ffn_norm.weight", [D]);
    m.set(p + "ffn.proj_1.weight", [2 * F, D]);
    m.set(p + "ffn.proj_2.weight", [D, F]);
  }
  m.set("transformer.norm.weight", [D]);
  if (!c.share_input_output_layers) m.set("lm_head.weight", [c.vocab_size, D]);
  return m;
}

/** Tensors HF may save that the forward pass never reads. */
const IGNORED = new Set(["transformer.classifier.weight"]);

/** Check names and shapes of a checkpoint's tensors against its config. */
export function validateTensors(c: OpenELMConfig, tensors: Map<string, StoredTensor>, file: string): void {
  const want = expectedShapes(c);
  for (const [name, shape] of want) {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(`${file}: missing tensor "${name}" (shape ${JSON.stringify(shape)})`);
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k]))
      throw new CheckpointError(`${file}: tensor "${name}" has shape ${JSON.stringify(t.shape)}, config.json implies ${JSON.stringify(shape)}`);
  }
  for (const name of tensors.keys())
    if (!want.has(name) && !(IGNORED.has(name) && !c.share_input_output_layers))
      throw new CheckpointError(`${file}: unexpected tensor "${name}" (not part of this OpenELM config)`);
}

/** Build a model from validated tensors; the backend takes each weight in its stored dtype. */
export function modelFromTensors(config: OpenELMConfig, tensors: Map<string, StoredTensor>, backend: Backend,
  file = "model.safetensors"): OpenELMModel {
  validateTensors(config, tensors, file);
  const get = (n: string) => tensors.get(n)!;
  const mat = (n: string) => { const t = get(n); return backend.loadMatrix(t, t.shape[0], t.shape[1]); };
  const vec = (n: string) => backend.loadVector(get(n));
  // The embedding first: it is the largest tensor, and its transient copy (read from the file, then taken
  // by the backend) should not add to a memory that already holds every layer.
  const token_embeddings = mat("transformer.token_embeddings.weight");
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.num_transformer_layers; i++) {
    const p = `transformer.layers.${i}.`;
    layers.push({
      attn_norm: vec(p + "attn_norm.weight"), qkv_proj: mat(p + "attn.qkv_proj.weight"),
      q_norm: config.normalize_qk_projections ? vec(p + "attn.q_norm.weight") : null,
      k_norm: config.normalize_qk_projections ? vec(p + "attn.k_norm.weight") : null,
      out_proj: mat(p + "attn.out_proj.weight"), ffn_norm: vec(p + "ffn_norm.weight"),
      proj_1: mat(p + "ffn.proj_1.weight"), proj_2: mat(p + "ffn.proj_2.weight"),
    });
  }
  return new OpenELMModel(config, {
    token_embeddings, layers, norm: vec("transformer.norm.weight"),
    lm_head: config.share_input_output_layers ? null : mat("lm_head.weight"),
  }, backend);
}

export interface LoadOptions {
  /** Backend to run on (default: the reference backend). */
  backend?: Backend;
  /** Convert weights while loading (e.g. quantize); receives and returns the tensor map. */
  transformTensors?: (tensors: Map<string, StoredTensor>, config: OpenELMConfig) => Map<string, StoredTensor>;
}

export interface LoadedModel {
  model: OpenELMModel;
  dir: string;
  generationConfig: GenerationConfig;
}

/** Load an HF model directory (config.json + model.safetensors or shards). */
export function loadModelDir(dir: string, opts: LoadOptions = {}): LoadedModel {
  if (!fs.existsSync(dir)) throw new CheckpointError(`${dir}: no such model directory`);
  if (!fs.statSync(dir).isDirectory()) throw new CheckpointError(`${dir}: not a model directory (expected config.json and model.safetensors)`);
  return loadModelFiles(directoryFiles(dir), opts);
}

/** As loadModelDir, over a model folder's files however they are held (a browser's File objects). */
export function loadModelFiles(files: ModelFiles, opts: LoadOptions = {}): LoadedModel {
  const ck = openCheckpointFiles(files); // tensors read one at a time as the backend takes them
  let model: OpenELMModel;
  try {
    const file = files.path(files.has("model.safetensors.index.json") ? "model.safetensors.index.json" : "model.safetensors");
    validateTensors(ck.config, ck.tensors, file);
    const tensors = opts.transformTensors ? opts.transformTensors(ck.tensors, ck.config) : ck.tensors;
    model = modelFromTensors(ck.config, tensors, opts.backend ?? createRefBackend(), file);
  } finally {
    ck.close();
  }
  return { model, dir: files.where, generationConfig: ck.generationConfig };
}

/** Load a model directory and return the model (see loadModelDir for the generation config too). */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<OpenELMModel> {
  return loadModelDir(dir, opts).model;
}

export type WeightDType = WeightType;

export interface OpenOptions {
  backend?: Backend;
  /** Convert weights while loading (llama.cpp's per-tensor rules: norms stay F32). */
  dtype?: WeightDType;
}

export interface OpenedCheckpoint extends LoadedModel {
  /** A SentencePiece model rebuilt from a GGUF file's embedded vocabulary (undefined for directories). */
  tokenizerModel?: Uint8Array;
}

/** Open a model directory or a .gguf file, optionally converting the weights to `dtype` on the way. */
export async function openCheckpoint(pathOrFile: string, opts: OpenOptions = {}): Promise<OpenedCheckpoint> {
  if (pathOrFile.endsWith(".gguf"))
    return openCheckpointSource({ gguf: fileSource(pathOrFile) }, { ...opts, bundledTokenizer: fs.readFileSync(BUNDLED_TOKENIZER_MODEL) });
  return loadModelDir(pathOrFile, { backend: opts.backend, transformTensors: converter(opts.dtype) });
}

/** Weight conversion while loading (llama.cpp's per-tensor rules: norms stay F32); none without a dtype. */
function converter(dtype: WeightDType | undefined): LoadOptions["transformTensors"] {
  return dtype ? (t) => quantizeTensors(t, dtype) : undefined;
}

/** A checkpoint held anywhere (a browser's File objects, a cache): a model folder's files, or one GGUF file. */
export type CheckpointSource = { files: ModelFiles } | { gguf: ByteSource };

/**
 * As openCheckpoint, for checkpoints held anywhere. bundledTokenizer: the bytes of the bundled Llama-2
 * tokenizer.model, the template a GGUF vocabulary is rebuilt on (needed for GGUF files with a vocabulary).
 */
export async function openCheckpointSource(src: CheckpointSource, opts: OpenOptions & { bundledTokenizer?: Uint8Array } = {}): Promise<OpenedCheckpoint> {
  const backend = opts.backend ?? createRefBackend();
  const convert = converter(opts.dtype);
  if ("files" in src) return loadModelFiles(src.files, { backend, transformTensors: convert });
  const ck = openGgufCheckpointSource(src.gguf);
  const file = src.gguf.name;
  let model: OpenELMModel;
  try { model = modelFromTensors(ck.config, convert ? convert(ck.tensors, ck.config) : ck.tensors, backend, file); } finally { ck.close(); }
  let tokenizerModel: Uint8Array | undefined;
  if (ck.vocab) {
    if (!opts.bundledTokenizer) throw new Error("openCheckpointSource: a GGUF vocabulary needs bundledTokenizer (the template it is rebuilt on)");
    tokenizerModel = tokenizerModelFromVocabOn(ck.vocab, opts.bundledTokenizer, "bundled tokenizer.model");
  }
  return { model, dir: file, generationConfig: { bos_token_id: ck.config.bos_token_id, eos_token_id: ck.config.eos_token_id }, tokenizerModel };
}
