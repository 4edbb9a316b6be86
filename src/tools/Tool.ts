/**
 * A tool the LLM may call, defined once: its argument `Schema` gives the JSON Schema offered to the
 * model, the validation of what the model sends back, and the docs. The owner and chat a call acts
 * for come from `ToolContext`, which the server builds; they are never tool arguments.
 */
import { Clock, Duration, Effect, JSONSchema, ParseResult, Schema, SchemaAST } from "effect"
import type { ToolSpec } from "../domain/ChatMessage.ts"
import type { ConversationKey, ConversationRef } from "../domain/Conversation.ts"

/** A failure the model should see: `field` names the argument at fault, when there is one. */
export class ToolError extends Schema.TaggedError<ToolError>()("ToolError", {
  message: Schema.String,
  field: Schema.optional(Schema.String)
}) {}

export const fail = (message: string, field?: string): Effect.Effect<never, ToolError> =>
  Effect.fail(field === undefined ? new ToolError({ message }) : new ToolError({ message, field }))

/** Who and where a call runs for, derived server-side from the message being answered. */
export interface ToolContext {
  readonly ownerId: string
  /** The chat being answered (with its forum topic, if any: scheduled replies must go back to it). */
  readonly conversation: ConversationRef
  readonly conversationKey: ConversationKey
  /** The person's id on the channel, when known. */
  readonly userId?: string
  /** The time of the turn, when the caller wants one clock for the whole turn. */
  readonly now?: Date
}

/** `ctx.now` when the caller fixed it, else the Effect clock (so tests can drive it). */
export const currentTime = (ctx: ToolContext): Effect.Effect<Date> =>
  ctx.now !== undefined ? Effect.succeed(ctx.now) : Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))

export interface Tool {
  readonly name: string
  readonly description: string
  /** JSON Schema (an object schema) of the arguments, in the subset OpenAI function calling accepts. */
  readonly parameters: Record<string, unknown>
  /** The tool's own time limit; the registry's default applies when absent. */
  readonly timeout: Duration.Duration | undefined
  readonly spec: ToolSpec
  /** Validates already JSON-parsed arguments, then runs the tool. */
  readonly invoke: (args: unknown, ctx: ToolContext) => Effect.Effect<unknown, ToolError>
}

export interface ToolDefinition<A, I> {
  /** `^[a-zA-Z0-9_-]{1,64}$`, as OpenAI requires. */
  readonly name: string
  readonly description: string
  /** A struct schema; annotate fields with `description` (on the property or its type). */
  readonly parameters: Schema.Schema<A, I, never>
  readonly timeout?: Duration.DurationInput
  /** Returns a JSON-able value. Services are captured when the tool is built, hence no requirements. */
  readonly run: (args: A, ctx: ToolContext) => Effect.Effect<unknown, ToolError>
}

const toolName = /^[a-zA-Z0-9_-]{1,64}$/

export const make = <A, I>(definition: ToolDefinition<A, I>): Tool => {
  if (!toolName.test(definition.name)) {
    throw new Error(`invalid tool name ${JSON.stringify(definition.name)}: must match ${toolName}`)
  }
  const parameters = toParametersSchema(definition.parameters)
  const decode = Schema.decodeUnknown(definition.parameters, { errors: "all", onExcessProperty: "error" })
  return {
    name: definition.name,
    description: definition.description,
    parameters,
    timeout: definition.timeout === undefined ? undefined : Duration.decode(definition.timeout),
    spec: { name: definition.name, description: definition.description, parameters },
    invoke: (args, ctx) =>
      typeof args !== "object" || args === null || Array.isArray(args)
        ? fail("the arguments must be a JSON object")
        : decode(args).pipe(
          Effect.mapError(fromParseError),
          Effect.flatMap((decoded) => definition.run(decoded, ctx))
        )
  }
}

/** One message naming every bad field (`headers.Accept: Expected string, actual 1`), and the first field. */
export const fromParseError = (error: ParseResult.ParseError): ToolError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const describe = (issue: ParseResult.ArrayFormatterIssue) =>
    issue.path.length === 0 ? issue.message : `"${formatPath(issue.path)}" ${issue.message}`
  const message = `Invalid arguments: ${issues.map(describe).join("; ")}`
  const first = issues.find((issue) => issue.path.length > 0)
  return first === undefined ? new ToolError({ message }) : new ToolError({ message, field: formatPath(first.path) })
}

const formatPath = (path: ReadonlyArray<PropertyKey>) => path.map(String).join(".")

// ---------------------------------------------------------------------------------------------
// JSON Schema for OpenAI: `JSONSchema.make` adds `$schema`, `$defs`/`$ref` (for `Int` and any
// schema with an identifier), generated `title`s and `allOf` wrappers for annotated optional
// fields. OpenAI wants a plain object schema, so references are inlined and the noise dropped.

type Json = Record<string, unknown>

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** The cleaned JSON Schema of an argument struct; throws if the schema is not an object schema. */
export const toParametersSchema = <A, I>(schema: Schema.Schema<A, I, never>): Json => {
  const ast = schema.ast
  if (SchemaAST.isTypeLiteral(ast) && ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0) {
    // `Schema.Struct({})` would give "any object or array".
    return { type: "object", required: [], properties: {}, additionalProperties: false }
  }
  const raw = JSONSchema.make(schema) as unknown as Json
  const defs = isObject(raw.$defs) ? raw.$defs : {}
  const cleaned = cleanNode(raw, defs, new Set())
  if (cleaned.type !== "object") {
    throw new Error(`tool parameters must be an object schema, got ${JSON.stringify(cleaned.type)}`)
  }
  return cleaned
}

const droppedKeys = new Set(["$schema", "$defs", "$id", "title"])

const cleanNode = (node: Json, defs: Json, resolving: ReadonlySet<string>): Json => {
  let current = node
  const ref = current.$ref
  if (typeof ref === "string" && ref.startsWith("#/$defs/")) {
    const name = ref.slice("#/$defs/".length)
    const target = defs[name]
    if (!isObject(target) || resolving.has(name)) {
      throw new Error(`tool parameters: cannot inline ${ref} (unknown or recursive)`)
    }
    const { $ref: _ref, ...rest } = current
    current = { ...cleanNode(target, defs, new Set([...resolving, name])), ...rest }
  }
  const allOf = current.allOf
  if (Array.isArray(allOf) && allOf.length === 1 && isObject(allOf[0])) {
    const { allOf: _allOf, ...rest } = current
    current = { ...cleanNode(allOf[0], defs, resolving), ...rest }
  }
  const out: Json = {}
  for (const [key, value] of Object.entries(current)) {
    if (droppedKeys.has(key)) continue
    out[key] = cleanKeyword(key, value, defs, resolving)
  }
  return out
}

const cleanKeyword = (key: string, value: unknown, defs: Json, resolving: ReadonlySet<string>): unknown => {
  const clean = (v: unknown) => (isObject(v) ? cleanNode(v, defs, resolving) : v)
  switch (key) {
    case "properties":
    case "patternProperties":
      return isObject(value)
        ? Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, clean(schema)]))
        : value
    case "items":
    case "additionalProperties":
    case "not":
    case "propertyNames":
      return Array.isArray(value) ? value.map(clean) : clean(value)
    case "anyOf":
    case "oneOf":
    case "allOf":
    case "prefixItems":
      return Array.isArray(value) ? value.map(clean) : value
    default:
      return value
  }
}

// ---------------------------------------------------------------------------------------------
// Docs

/** A Markdown section for one tool: its description and a table of its arguments. */
export const toMarkdown = (tool: Tool): string => {
  const properties = isObject(tool.parameters.properties) ? tool.parameters.properties : {}
  const required = new Set(Array.isArray(tool.parameters.required) ? tool.parameters.required : [])
  const rows = Object.entries(properties).map(([name, schema]) => {
    const s = isObject(schema) ? schema : {}
    const description = typeof s.description === "string" ? s.description.replace(/\|/g, "\\|") : ""
    return `| \`${name}\` | ${typeLabel(s)} | ${required.has(name) ? "yes" : "no"} | ${description} |`
  })
  const table = rows.length === 0
    ? "No arguments."
    : ["| argument | type | required | description |", "|---|---|---|---|", ...rows].join("\n")
  return `### \`${tool.name}\`\n\n${tool.description}\n\n${table}\n`
}

const typeLabel = (schema: Json): string => {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" \\| ")
  if (Array.isArray(schema.anyOf)) return schema.anyOf.map((s) => (isObject(s) ? typeLabel(s) : "?")).join(" or ")
  if (typeof schema.type === "string") return schema.type
  return "any"
}

// ---------------------------------------------------------------------------------------------
// Argument helpers: the description goes on the property, so that validation messages keep the
// type's own wording ("Expected a string at most 200 character(s) long") instead of repeating it.

/** A required argument with a description for the model. */
export const param = <A, I>(schema: Schema.Schema<A, I, never>, description: string) =>
  Schema.propertySignature(schema).annotations({ description })

/** An optional argument (absent, never `undefined`) with a description for the model. */
export const optionalParam = <A, I>(schema: Schema.Schema<A, I, never>, description: string) =>
  Schema.optionalWith(schema, { exact: true }).annotations({ description })
