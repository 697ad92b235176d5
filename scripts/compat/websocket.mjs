// scripts/compat/websocket.mjs - the global WebSocket the official SDK
// expects, for Node 20 (which has none), built on the `ws` package.
//
// One difference from a browser's WebSocket matters to the SDK: it awaits
// `open` and only then sets `onmessage`. A browser delivers every event as
// a task of its own, after that continuation has run; `ws` may emit the
// messages that arrived with the handshake (an attach's scrollback replay,
// a fast command's exit) in the same tick as `open`, before the SDK is
// listening, and they are lost. So events that come right after `open` are
// held until the next turn of the event loop, then delivered in order.

import { WebSocket as WsWebSocket } from "ws";

export class WebSocket extends WsWebSocket {
  emit(name, ...args) {
    if (this._held) {
      this._held.push([name, args]);
      return true;
    }
    const handled = super.emit(name, ...args);
    if (name === "open") {
      this._held = [];
      setImmediate(() => {
        const held = this._held;
        this._held = null;
        for (const [n, a] of held) super.emit(n, ...a);
      });
    }
    return handled;
  }
}

globalThis.WebSocket ??= WebSocket;
