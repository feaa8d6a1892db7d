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
 * When a participant's link counts as weak, from the WebRTC statistics of what they publish,
 * read every `everyMs`: `samples` readings in a row with loss of at least `maxLoss` (the
 * fraction Janus reports lost), a round trip of at least `maxRttMs`, or an uplink the browser
 * estimates below `minUplinkBps`. Then the participant falls back to audio only. For `graceMs`
 * after video starts (joining, or video restored) nothing counts: the estimate is climbing.
 */
export const WEAK_LINK = { everyMs: 2000, samples: 3, maxLoss: 0.1, maxRttMs: 1500, minUplinkBps: 80_000, graceMs: 15_000 };

/**
 * Audio and video of one participant in a room: publishes their camera and microphone (or
 * audio only) and, on request, their screen as a second feed, and receives everyone else's.
 * Audio only goes both ways: no video sent, none received (the others' sound still comes).
 * On a weak link it drops to audio only by itself (`weak` event); video comes back on request.
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
    /** @type {RTCRtpTransceiver | null} the publisher's video, sending nothing while audio only */
    this.video = null;
    /** @type {Map<number, {pc: RTCPeerConnection, stream: MediaStream, officer: number | null, display: string, screen: boolean}>} */
    this.feeds = new Map();
    /** @type {MediaStream | null} */
    this.local = null;
    /** Whether the participant sends no video. */
    this.audioOnly = false;
    /** @type {{pc: RTCPeerConnection, stream: MediaStream, feed: number} | null} the shared screen */
    this.screen = null;
    /** @type {{loss: number, rttMs: number, uplinkBps: number | null} | null} the last reading of the link */
    this.quality = null;
    /** @type {{loss: number, rttMs: number, uplinkBps: number | null} | null} the reading that made it fall back */
    this.weak = null;
    this.weakReadings = 0;
    /** Until when (performance.now()) readings do not count. */
    this.graceUntil = 0;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.watch = undefined;
    link.addEventListener("media.publishers", (e) => {
      for (const p of /** @type {CustomEvent} */ (e).detail.publishers) this.receive(p).catch(() => {});
    });
    link.addEventListener("media.gone", (e) => this.drop(/** @type {CustomEvent} */ (e).detail.feed));
  }

  /**
   * Joins the room's media: publishes the camera and microphone (the microphone only with
   * `audioOnly`; the camera can be added later without a new offer).
   * @param {{audioOnly?: boolean}} [options]
   */
  async start(options = {}) {
    if (this.publisher) return;
    const joined = await this.link.request({ type: "media.join" });
    this.iceServers = joined.ice_servers || [];
    this.audioOnly = Boolean(options.audioOnly);
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: !this.audioOnly });
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.publisher = pc;
    for (const track of this.local.getAudioTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
    this.video = pc.addTransceiver(this.local.getVideoTracks()[0] || "video", { direction: "sendonly", streams: [this.local] });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = await this.link.request({ type: "media.publish", jsep: { type: "offer", sdp: pc.localDescription?.sdp } });
    await pc.setRemoteDescription(answer.jsep);
    if (this.audioOnly) await this.receiveVideo(false);
    this.watchLink();
    this.dispatchEvent(new CustomEvent("change"));
    for (const p of joined.publishers) await this.receive(p).catch(() => {});
  }

  /**
   * Stops sending video (the camera is released) and receiving the others' video, keeping
   * the sound both ways, or sends the camera and receives their video again. Joins with audio
   * only if not yet in the call.
   * @param {boolean} on
   */
  async setAudioOnly(on) {
    if (!this.publisher) {
      await this.start({ audioOnly: on });
      return;
    }
    const local = this.local;
    if (!local || on === this.audioOnly) return;
    if (on) {
      await this.video?.sender.replaceTrack(null);
      for (const track of local.getVideoTracks()) {
        track.stop();
        local.removeTrack(track);
      }
    } else {
      const track = (await navigator.mediaDevices.getUserMedia({ video: true })).getVideoTracks()[0];
      local.addTrack(track);
      await this.video?.sender.replaceTrack(track);
      this.weak = null;
      this.weakReadings = 0;
      this.graceUntil = performance.now() + WEAK_LINK.graceMs;
    }
    this.audioOnly = on;
    this.dispatchEvent(new CustomEvent("change"));
    await this.receiveVideo(!on);
  }

  /** Has the media server relay the others' video to this participant, or stop (their sound
   * goes on), for the feeds received now and those to come. @param {boolean} on */
  receiveVideo(on) {
    return this.link.request({ type: "media.receive", video: on });
  }

  /**
   * Shares the screen (asked for first, while the click that asked still counts) as a feed of
   * its own, joining the call first if need be; ends when stopped here or in the browser.
   */
  async shareScreen() {
    if (this.screen) return;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    track.contentHint = "detail";
    /** @type {RTCPeerConnection | null} */
    let pc = null;
    try {
      await this.start();
      pc = new RTCPeerConnection({ iceServers: this.iceServers });
      pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      this.screen = { pc, stream, feed: 0 };
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const answer = await this.link.request({ type: "media.screen", jsep: { type: "offer", sdp: pc.localDescription?.sdp } });
      this.screen.feed = answer.feed;
      await pc.setRemoteDescription(answer.jsep);
    } catch (e) {
      pc?.close();
      for (const t of stream.getTracks()) t.stop();
      this.screen = null;
      throw e;
    }
    track.addEventListener("ended", () => this.stopScreen());
    this.dispatchEvent(new CustomEvent("change"));
  }

  /** Ends the screen sharing: the others are told its feed is gone. */
  async stopScreen() {
    const screen = this.screen;
    if (!screen) return;
    this.screen = null;
    screen.pc.close();
    for (const t of screen.stream.getTracks()) t.stop();
    this.dispatchEvent(new CustomEvent("change"));
    await this.link.request({ type: "media.screen_stop" }).catch(() => {});
  }

  /** Receives one publisher's feed. @param {{feed: number, officer_id: number | null, display: string, screen?: boolean}} p */
  async receive(p) {
    if (this.feeds.has(p.feed)) return;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const stream = new MediaStream();
    this.feeds.set(p.feed, { pc, stream, officer: p.officer_id, display: p.display, screen: Boolean(p.screen) });
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

  /** Bytes of `kind` received so far, per feed (WebRTC statistics). @param {"audio" | "video"} kind */
  async inboundBytes(kind) {
    /** @type {Record<string, number>} */
    const out = {};
    for (const [feed, f] of this.feeds) {
      let bytes = 0;
      (await f.pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === kind) bytes += s.bytesReceived || 0;
      });
      out[String(feed)] = bytes;
    }
    return out;
  }

  /** Video bytes received so far, per feed. */
  inboundVideoBytes() {
    return this.inboundBytes("video");
  }

  /** Reads the publisher's link every `WEAK_LINK.everyMs` (see `checkLink`). */
  watchLink() {
    clearInterval(this.watch);
    this.weakReadings = 0;
    this.graceUntil = performance.now() + WEAK_LINK.graceMs;
    this.watch = setInterval(() => this.checkLink().catch(() => {}), WEAK_LINK.everyMs);
  }

  /**
   * One reading of the link the participant publishes over: loss and round trip as Janus
   * reports them back, and the uplink the browser estimates; weak for `WEAK_LINK.samples`
   * readings in a row while video is sent, it falls back to audio only and says so (`weak`).
   */
  async checkLink() {
    const pc = this.publisher;
    if (!pc || pc.connectionState !== "connected") return;
    const stats = await pc.getStats();
    /** @type {any} */
    let pair = null;
    let loss = 0;
    let rtt = 0;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
      if (s.type === "remote-inbound-rtp") {
        loss = Math.max(loss, s.fractionLost || 0);
        rtt = Math.max(rtt, s.roundTripTime || 0);
      }
    });
    rtt = Math.max(rtt, pair?.currentRoundTripTime || 0);
    const reading = { loss, rttMs: Math.round(rtt * 1000), uplinkBps: pair?.availableOutgoingBitrate ?? null };
    this.quality = reading;
    if (performance.now() < this.graceUntil) return;
    const weak = reading.loss >= WEAK_LINK.maxLoss || reading.rttMs >= WEAK_LINK.maxRttMs
      || (reading.uplinkBps != null && reading.uplinkBps < WEAK_LINK.minUplinkBps);
    this.weakReadings = weak ? this.weakReadings + 1 : 0;
    if (this.weakReadings >= WEAK_LINK.samples && !this.audioOnly) {
      this.weak = reading;
      await this.setAudioOnly(true);
      this.dispatchEvent(new CustomEvent("weak", { detail: reading }));
    }
  }

  stop() {
    clearInterval(this.watch);
    this.screen?.pc.close();
    for (const t of this.screen?.stream.getTracks() || []) t.stop();
    this.screen = null;
    for (const feed of [...this.feeds.keys()]) this.drop(feed);
    this.publisher?.close();
    this.publisher = null;
    this.video = null;
    for (const t of this.local?.getTracks() || []) t.stop();
    this.local = null;
    this.audioOnly = false;
    this.weak = null;
    this.link.send({ type: "media.leave" });
  }
}
