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
import { Clock, Deferred, Duration, Effect, Queue, type Scope } from "effect"

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

  /** Milliseconds until the chat itself (its allowance, a 429 ban) lets a message through; 0: now. */
  chatWait(chatId: number, now: number): number {
    const state = this.chat(chatId, now)
    return Math.max(state.bannedUntil - now, state.bucket.waitFor(1, now))
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

/** Waits for a turn to send to a chat; fails never, and never returns once draining holds it. */
export type TakeTurn = (chatId: number, priority: SendPriority) => Effect.Effect<void>

type Outcome = "taken" | "chat busy" | "held"

interface InLine {
  readonly chatId: number
  readonly answer: Deferred.Deferred<Outcome>
}

/**
 * Hands out turns under `throttle`, by the Effect clock (so TestClock drives it), without polling:
 * a message first waits for its own chat (its allowance, a 429 ban), then joins the line of its
 * priority for the overall rate, where one fiber per line watches the clock and answers the
 * messages in order. So a thousand queued replies cost one wake-up per message sent, not a
 * thousand (a semaphore would wake every waiter on each release).
 *
 * Once `draining` has started, a message that would have to wait is not sent at all: it is held
 * until the shutdown interrupts it (a message whose turn is there at once still goes).
 */
export const turnTaker = (
  throttle: SendThrottle,
  draining: Effect.Effect<void> = Effect.never
): Effect.Effect<TakeTurn, never, Scope.Scope> =>
  Effect.gen(function*() {
    /** Sleeps `ms`; false when draining started first. */
    const waitUnlessDraining = (ms: number) =>
      Effect.raceFirst(Effect.as(Effect.sleep(Duration.millis(ms)), true), Effect.as(draining, false))

    /** The head of the line: its outcome once the overall rate allows, or once its chat is not ready after all. */
    const serve = (priority: SendPriority, { answer, chatId }: InLine) =>
      Effect.gen(function*() {
        for (;;) {
          if (yield* Deferred.isDone(answer)) return // given up (interrupted)
          const now = yield* Clock.currentTimeMillis
          const wait = throttle.tryTake(chatId, priority, now)
          if (wait === 0) return yield* Deferred.succeed(answer, "taken")
          if (throttle.chatWait(chatId, now) > 0) return yield* Deferred.succeed(answer, "chat busy")
          if (!(yield* waitUnlessDraining(wait))) return yield* Deferred.succeed(answer, "held")
        }
      })

    const lineFor = (priority: SendPriority) =>
      Effect.gen(function*() {
        const line = yield* Queue.unbounded<InLine>()
        yield* Queue.take(line).pipe(
          Effect.flatMap((entry) => serve(priority, entry)),
          Effect.forever,
          Effect.forkScoped
        )
        return line
      })
    const lines = { user: yield* lineFor("user"), stranger: yield* lineFor("stranger") }

    const inLine = (chatId: number, priority: SendPriority) =>
      Effect.gen(function*() {
        const answer = yield* Deferred.make<Outcome>()
        yield* Queue.offer(lines[priority], { chatId, answer })
        return yield* Deferred.await(answer).pipe(Effect.onInterrupt(() => Deferred.interrupt(answer)))
      })

    return (chatId, priority) =>
      Effect.gen(function*() {
        for (;;) {
          const chatWait = throttle.chatWait(chatId, yield* Clock.currentTimeMillis)
          if (chatWait > 0) {
            if (!(yield* waitUnlessDraining(chatWait))) return yield* Effect.never
            continue
          }
          const outcome = yield* inLine(chatId, priority)
          if (outcome === "taken") return
          if (outcome === "held") return yield* Effect.never
        }
      })
  })
