// Endpoint (protocol.ts) over a Node worker_threads Worker or MessagePort: they are event emitters whose
// "message" listeners get the data itself, not a MessageEvent.

import type { Endpoint } from "./protocol.js";

export function nodePortEndpoint(port: { postMessage(m: unknown): void; on(e: "message", f: (m: unknown) => void): unknown; off(e: "message", f: (m: unknown) => void): unknown }): Endpoint {
  return {
    postMessage: (m) => port.postMessage(m),
    listen(onMessage) {
      port.on("message", onMessage);
      return () => { port.off("message", onMessage); };
    },
  };
}
