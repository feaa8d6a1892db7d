// @ts-check
// A consultation room as a participant's browser sees it: the room socket (the session cookie
// goes with it), requests answered by their `ref`, stored events as they come, and audio/video
// through the command-center's signalling relay to Janus (the browser never talks to Janus's
// API; only its media goes to Janus). Used by the consultation page and the tests.

import { socketUrl } from "./api.js";

/** @typedef {{id: number, room_id: number, kind: string, officer_id: number | null, officer_name: string | null, division_code: string | null, division_name: string | null, body: any, at: string}} RoomEvent */

export class RoomLink extends EventTarget {
  /** @param {number} roomId */
  constructor(roomId) {
    super();
    this.roomId = roomId;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {any} */
    this.welcome = null;
    /** @type {RoomEvent[]} every event of the room, oldest first */
    this.events = [];
    /** @type {Map<string, {resolve: (v: any) => void, reject: (e: Error) => void}>} */
    this.pending = new Map();
    this.next = 1;
  }

  /** Opens the socket; resolves with the welcome (the room, its history, who is present). */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(socketUrl(`/consult/rooms/${this.roomId}/socket`));
      this.ws = ws;
      ws.onmessage = (m) => {
        const msg = JSON.parse(String(m.data));
        if (msg.type === "welcome") {
          this.welcome = msg;
          this.events = msg.history;
          resolve(msg);
        } else if (msg.type === "event") {
          this.events.push(msg.event);
        }
        const waiting = msg.ref != null ? this.pending.get(String(msg.ref)) : undefined;
        if (waiting) {
          this.pending.delete(String(msg.ref));
          if (msg.type === "error") waiting.reject(new Error(`${msg.field}: ${msg.message}`));
          else waiting.resolve(msg);
        }
        this.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
      };
      ws.onclose = () => {
        reject(new Error("the room refused the connection"));
        for (const w of this.pending.values()) w.reject(new Error("the room socket closed"));
        this.pending.clear();
        this.dispatchEvent(new CustomEvent("close"));
      };
    });
  }

  /** Sends a message with no answer awaited (chat, annotate, post, decide). @param {object} msg */
  send(msg) {
    this.ws?.send(JSON.stringify(msg));
  }

  /** Sends a message and resolves with its answer (rejects with a refusal). @param {object} msg */
  request(msg) {
    const ref = String(this.next++);
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.send({ ...msg, ref });
    });
  }

  close() {
    this.ws?.close();
  }
}

/** Resolves once `pc` has gathered its candidates (they all go in the description). @param {RTCPeerConnection} pc */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") resolve(undefined);
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 5000);
  });
}

/**
 * Audio and video of one participant in a room: publishes their camera and microphone (or
 * audio only, or a shared screen) and receives everyone else's.
 */
export class RoomMedia extends EventTarget {
  /** @param {RoomLink} link */
  constructor(link) {
    super();
    this.link = link;
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {RTCPeerConnection | null} */
    this.publisher = null;
    /** @type {Map<number, {pc: RTCPeerConnection, stream: MediaStream, officer: number | null, display: string}>} */
    this.feeds = new Map();
    /** @type {MediaStream | null} */
    this.local = null;
    link.addEventListener("media.publishers", (e) => {
      for (const p of /** @type {CustomEvent} */ (e).detail.publishers) this.receive(p).catch(() => {});
    });
    link.addEventListener("media.gone", (e) => this.drop(/** @type {CustomEvent} */ (e).detail.feed));
  }

  /**
   * Joins the room's media: publishes `stream` (camera and microphone by default).
   * @param {{audioOnly?: boolean, screen?: boolean}} [options]
   */
  async start(options = {}) {
    const joined = await this.link.request({ type: "media.join" });
    this.iceServers = joined.ice_servers || [];
    this.local = options.screen
      ? await navigator.mediaDevices.getDisplayMedia({ video: true })
      : await navigator.mediaDevices.getUserMedia({ audio: true, video: !options.audioOnly });
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.publisher = pc;
    for (const track of this.local.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = await this.link.request({ type: "media.publish", jsep: { type: "offer", sdp: pc.localDescription?.sdp } });
    await pc.setRemoteDescription(answer.jsep);
    this.dispatchEvent(new CustomEvent("change"));
    for (const p of joined.publishers) await this.receive(p).catch(() => {});
  }

  /** Receives one publisher's feed. @param {{feed: number, officer_id: number | null, display: string}} p */
  async receive(p) {
    if (this.feeds.has(p.feed)) return;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const stream = new MediaStream();
    this.feeds.set(p.feed, { pc, stream, officer: p.officer_id, display: p.display });
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      this.dispatchEvent(new CustomEvent("change"));
    };
    const offer = await this.link.request({ type: "media.subscribe", feed: p.feed });
    await pc.setRemoteDescription(offer.jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await this.link.request({ type: "media.start", feed: p.feed, jsep: { type: "answer", sdp: pc.localDescription?.sdp } });
    this.dispatchEvent(new CustomEvent("change"));
  }

  /** @param {number} feed */
  drop(feed) {
    const f = this.feeds.get(feed);
    if (!f) return;
    f.pc.close();
    this.feeds.delete(feed);
    this.dispatchEvent(new CustomEvent("change"));
  }

  /** Video bytes received so far, per feed (WebRTC statistics). */
  async inboundVideoBytes() {
    /** @type {Record<string, number>} */
    const out = {};
    for (const [feed, f] of this.feeds) {
      let bytes = 0;
      (await f.pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") bytes += s.bytesReceived || 0;
      });
      out[String(feed)] = bytes;
    }
    return out;
  }

  stop() {
    for (const feed of [...this.feeds.keys()]) this.drop(feed);
    this.publisher?.close();
    this.publisher = null;
    for (const t of this.local?.getTracks() || []) t.stop();
    this.local = null;
    this.link.send({ type: "media.leave" });
  }
}
