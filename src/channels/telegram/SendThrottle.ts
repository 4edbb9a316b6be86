/**
 * Telegram's flood limits, counted before each message is sent, so they are respected before
 * they bite (see TELEGRAM.md). Token buckets, the model Telegram describes ("short bursts
 * tolerated"):
 *
 * - a private chat may take `privateBurst` messages at once, refilled at `privatePerSecond`;
 * - a group `groupBurst` at once, refilled at `groupPerMinute`;
 * - all chats together `globalBurst` at once, refilled at `globalPerSecond`.
 *
 * A quick exchange or a reply in three chunks goes out at once; only a chat that keeps sending
 * waits. A 429 bans that chat alone for its `retry_after`: other chats keep going.
 *
 * Allowed users go first: a stranger's message (a refusal, a pairing code) only takes a global
 * token while `strangerReserve` are left for users, so strangers can never use up the global rate.
 *
 * Previews of a reply being written (drafts, edits of a placeholder) never wait: they go only
 * while the chat is not held by a 429 and has a token to spare beyond `previewReserve`, so the
 * final reply always finds its token; otherwise the preview is skipped (a newer one follows).
 */
import { Clock, Duration, Effect } from "effect"

export interface FloodLimits {
  readonly privateBurst: number
  readonly privatePerSecond: number
  readonly groupBurst: number
  readonly groupPerMinute: number
  readonly globalBurst: number
  readonly globalPerSecond: number
  /** Global tokens a stranger's message must leave for allowed users. */
  readonly strangerReserve: number
}

export const telegramFloodLimits: FloodLimits = {
  privateBurst: 3,
  privatePerSecond: 1,
  groupBurst: 3,
  groupPerMinute: 20,
  globalBurst: 30,
  globalPerSecond: 30,
  strangerReserve: 10
}

/** Tokens a preview must leave to its chat: the final reply's first message never waits for a preview. */
export const previewReserve = 1

/** Whose message it is: an allowed user's (first) or a stranger's (only with tokens to spare). */
export type SendPriority = "user" | "stranger"

/** `capacity` tokens, refilled at `perMs`; time is passed in, so it runs under any clock. */
export class TokenBucket {
  private tokens: number
  private at: number

  constructor(readonly capacity: number, readonly perMs: number, now: number) {
    this.tokens = capacity
    this.at = now
  }

  private refill(now: number) {
    if (now > this.at) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.at) * this.perMs)
      this.at = now
    }
  }

  /** Milliseconds until `needed` tokens are there (0: they are). */
  waitFor(needed: number, now: number): number {
    this.refill(now)
    return this.tokens >= needed ? 0 : Math.ceil((needed - this.tokens) / this.perMs)
  }

  take(now: number) {
    this.refill(now)
    this.tokens -= 1
  }

  empty(now: number) {
    this.refill(now)
    this.tokens = 0
  }

  isFull(now: number) {
    this.refill(now)
    return this.tokens >= this.capacity
  }
}

interface ChatState {
  readonly bucket: TokenBucket
  bannedUntil: number
}

/** Above this many chats, chats back at full allowance are forgotten (they start full anyway). */
const pruneThreshold = 1_000

/** The flood-limit bookkeeping of one bot: pure, with the time passed in. */
export class SendThrottle {
  private readonly chats = new Map<number, ChatState>()
  private readonly global: TokenBucket
  private pruneAt = pruneThreshold

  constructor(private readonly limits: FloodLimits, now: number) {
    this.global = new TokenBucket(limits.globalBurst, limits.globalPerSecond / 1000, now)
  }

  private chat(chatId: number, now: number): ChatState {
    let state = this.chats.get(chatId)
    if (state === undefined) {
      if (this.chats.size >= this.pruneAt) this.prune(now)
      state = {
        bucket: chatId < 0
          ? new TokenBucket(this.limits.groupBurst, this.limits.groupPerMinute / 60_000, now)
          : new TokenBucket(this.limits.privateBurst, this.limits.privatePerSecond / 1000, now),
        bannedUntil: 0
      }
      this.chats.set(chatId, state)
    }
    return state
  }

  private prune(now: number) {
    for (const [chatId, state] of this.chats) {
      if (state.bannedUntil <= now && state.bucket.isFull(now)) this.chats.delete(chatId)
    }
    this.pruneAt = Math.max(pruneThreshold, this.chats.size * 2)
  }

  /** 0 when a message to `chatId` may go now (it is counted), else the milliseconds to wait before asking again. */
  tryTake(chatId: number, priority: SendPriority, now: number): number {
    const state = this.chat(chatId, now)
    const wait = Math.max(
      state.bannedUntil - now,
      state.bucket.waitFor(1, now),
      this.global.waitFor(priority === "user" ? 1 : 1 + this.limits.strangerReserve, now)
    )
    if (wait > 0) return wait
    state.bucket.take(now)
    this.global.take(now)
    return 0
  }

  /**
   * A preview's turn, only when it costs nothing to the chat's real messages: the chat is not
   * held, keeps `previewReserve` tokens after this one, and so does the global bucket for users
   * and strangers. True when it was taken (and counted); false means skip this preview.
   */
  tryTakeSpare(chatId: number, now: number): boolean {
    const state = this.chat(chatId, now)
    const spare = 1 + previewReserve
    if (
      state.bannedUntil > now || state.bucket.waitFor(spare, now) > 0 ||
      this.global.waitFor(spare + this.limits.strangerReserve, now) > 0
    ) return false
    state.bucket.take(now)
    this.global.take(now)
    return true
  }

  /** Telegram answered 429 for this chat: nothing more goes to it for `retryAfterSeconds`. */
  penalize(chatId: number, retryAfterSeconds: number, now: number) {
    const state = this.chat(chatId, now)
    state.bannedUntil = Math.max(state.bannedUntil, now + retryAfterSeconds * 1000)
    state.bucket.empty(now)
  }

  /** Chats with a state (for tests: the bookkeeping stays bounded). */
  get trackedChats() {
    return this.chats.size
  }
}

/** Waits for the chat's turn under `throttle`, by the Effect clock (so TestClock drives it). */
export const takeTurn = (
  throttle: SendThrottle,
  chatId: number,
  priority: SendPriority
): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const wait = throttle.tryTake(chatId, priority, now)
    return wait === 0 ? Effect.void : Effect.zipRight(
      Effect.sleep(Duration.millis(wait)),
      takeTurn(throttle, chatId, priority)
    )
  })
