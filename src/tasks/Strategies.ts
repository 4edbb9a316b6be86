/** The registry of task strategies, by name. */
import { Context, Effect, Layer } from "effect"
import type { StrategyName } from "../scheduler/Job.ts"
import * as LlmPrompt from "./strategies/LlmPrompt.ts"
import * as Message from "./strategies/Message.ts"
import * as WebFetch from "./strategies/WebFetch.ts"
import type { TaskStrategy } from "./TaskStrategy.ts"

export class TaskStrategies extends Context.Tag("minibot/TaskStrategies")<TaskStrategies, {
  readonly get: (name: StrategyName) => TaskStrategy
}>() {
  /** The three built-in strategies. */
  static readonly layer = Layer.effect(
    TaskStrategies,
    Effect.gen(function*() {
      const strategies = [yield* LlmPrompt.make, yield* WebFetch.make, yield* Message.make]
      const byName = new Map(strategies.map((s) => [s.name, s]))
      return { get: (name: StrategyName) => byName.get(name)! }
    })
  )
}
