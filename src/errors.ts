// One error class per kind of bad input (web-llm's error.ts). Messages name the file, field or
// argument, what was expected and what came; the CLI prints them as one line and exits non-zero.

export class OpenELMError extends Error {
  override name = "OpenELMError";
}
/** config.json / recipe / generation_config problems. */
export class ConfigError extends OpenELMError { override name = "ConfigError"; }
/** Weight files: safetensors / GGUF structure, dtypes, shapes, missing or unexpected tensors. */
export class CheckpointError extends OpenELMError { override name = "CheckpointError"; }
/** Tokenizer files and token ids. */
export class TokenizerError extends OpenELMError { override name = "TokenizerError"; }
/** Bad user input: prompts longer than the context, ids out of range, bad options. */
export class InputError extends OpenELMError { override name = "InputError"; }
/** Data sets: corpora, evaluation task files. */
export class DataError extends OpenELMError { override name = "DataError"; }
/** A backend's memory cannot hold the weights, KV cache and buffers asked of it. */
export class OutOfMemoryError extends OpenELMError { override name = "OutOfMemoryError"; }
