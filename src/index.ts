// openelm-ts public API: the engine (load, generate, chat) and the pieces an application may need.
// See README.md ("Library").

export { loadModel, Model, ChatSession } from "./engine.js";
export type { LoadModelOptions, GenerationOptions, Generation, Completion, ChatMessage, ChatRole, FinishReason } from "./engine.js";
export { downloadSnapshot, resolveModelDir, hubSettingsFromEnv, HubError } from "./io/hub.js";
export type { HubSettings, DownloadOptions, ProgressEvent, Snapshot } from "./io/hub.js";
export { renderChat, ZEPHYR_TEMPLATE } from "./tokenizer/chat_template.js";
export { OpenELMError, ConfigError, CheckpointError, TokenizerError, InputError, DataError } from "./errors.js";
export { validateGenerationOptions, OptionError } from "./generate/options.js";
export type { BackendName } from "./kernels/select.js";
