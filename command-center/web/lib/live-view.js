// @ts-check
// A camera's live view: its JPEG frames over a WebSocket, each shown in an <img> in place of
// the last (whose object URL is given back). The site view's cameras and the cameras brought
// into a consultation room both watch this way.

import { socketUrl } from "./api.js";

/**
 * Starts watching the live route `path` (under /api/v1) in `img`.
 * @param {string} path
 * @param {HTMLImageElement} img
 * @param {(frames: number) => void} onFrame   after each frame, with how many came
 * @param {() => void} onClose                 when the view ends, whoever ended it
 * @returns {{ws: WebSocket, release: () => void}}  `release` gives back the last frame's URL
 */
export function watchLive(path, img, onFrame, onClose) {
  const ws = new WebSocket(socketUrl(path));
  ws.binaryType = "blob";
  /** @type {string | null} */
  let url = null;
  let frames = 0;
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") return;
    const next = URL.createObjectURL(ev.data);
    img.src = next;
    if (url) URL.revokeObjectURL(url);
    url = next;
    frames += 1;
    onFrame(frames);
  };
  ws.onclose = onClose;
  return {
    ws,
    release() {
      if (url) URL.revokeObjectURL(url);
      url = null;
    },
  };
}
