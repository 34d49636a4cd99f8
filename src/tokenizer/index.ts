// openelm-ts/tokenizer: the Llama-2 SentencePiece tokenizer OpenELM uses, streaming decoding and the
// chat template, without loading a model.

export { Tokenizer, loadTokenizer, checkpointTokenizer, BUNDLED_TOKENIZER } from "./sentencepiece.js";
export type { EncodeOptions } from "./sentencepiece.js";
export { StreamDecoder } from "./stream_decoder.js";
export { renderChat, encodeChatPrompt, readChatTemplate, validateMessages, ZEPHYR_TEMPLATE } from "./chat_template.js";
export type { ChatMessage, ChatRole, RenderOptions } from "./chat_template.js";
