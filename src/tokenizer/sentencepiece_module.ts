// The one export used from SentencePiece's package, re-exported statically so that the web bundler keeps
// only it: the package also exports three bundled tokenizer models (3 MB of base64), which a dynamic
// import of the package itself would carry into the page. Imported lazily by sentencepiece.ts.
export { SentencePieceProcessor } from "@sctg/sentencepiece-js";
