import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as CalculatorTool from "../../src/tools/builtin/CalculatorTool.ts"
import * as DateTimeTool from "../../src/tools/builtin/DateTimeTool.ts"
import * as HttpRequestTool from "../../src/tools/builtin/HttpRequestTool.ts"
import * as NotesTools from "../../src/tools/builtin/NotesTools.ts"
import type { NotesStore } from "../../src/tools/notes/NotesStore.ts"
import * as Tool from "../../src/tools/Tool.ts"
import { makeToolsConfig } from "../../src/tools/ToolsConfig.ts"

/** Every object key anywhere in a JSON value, with the path to it. */
const keysOf = (value: unknown, path = ""): Array<string> => {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysOf(v, `${path}[${i}]`))
  if (typeof value !== "object" || value === null) return []
  return Object.entries(value).flatMap(([k, v]) => [`${path}/${k}`, ...keysOf(v, `${path}/${k}`)])
}

const config = makeToolsConfig({ http_client: { enabled: true, allowed_methods: ["GET", "POST"] } })
const builtins = [
  CalculatorTool.make(),
  DateTimeTool.make("UTC"),
  HttpRequestTool.make(config.http_client),
  ...NotesTools.make({} as NotesStore, config.kv_memory)
]

describe("Tool JSON Schema", () => {
  it("is a plain object schema for every built-in tool (no $schema, $defs, $ref or generated titles)", () => {
    expect(builtins.map((t) => t.name)).toEqual([
      "calculator",
      "current_datetime",
      "http_request",
      "memory_save",
      "memory_get",
      "memory_search",
      "memory_list",
      "memory_delete"
    ])
    for (const tool of builtins) {
      const schema = tool.parameters
      expect(schema.type, tool.name).toBe("object")
      expect(schema.additionalProperties, tool.name).toBe(false)
      expect(Array.isArray(schema.required), tool.name).toBe(true)
      const keys = keysOf(schema)
      expect(keys.filter((k) => /\/(\$schema|\$defs|\$ref|\$id|allOf)$/.test(k)), tool.name).toEqual([])
      // "title" may be a property name (memory_save) but never a schema keyword.
      expect(keys.filter((k) => k.endsWith("/title") && !k.endsWith("/properties/title")), tool.name).toEqual([])
      for (const [name, property] of Object.entries(schema.properties as Record<string, Record<string, unknown>>)) {
        expect(typeof property.description, `${tool.name}.${name}`).toBe("string")
      }
      expect(tool.spec).toEqual({ name: tool.name, description: tool.description, parameters: schema })
    }
  })

  it("describes types, constraints and required fields", () => {
    const search = builtins.find((t) => t.name === "memory_search")!
    expect(search.parameters).toEqual({
      type: "object",
      required: ["query"],
      properties: {
        query: { type: "string", description: "Words to look for (prefixes match too)", maxLength: 500 },
        limit: { type: "integer", description: "How many results (default 20, at most 100)", exclusiveMinimum: 0 },
        offset: { type: "integer", description: "How many results to skip (default 0)", minimum: 0 }
      },
      additionalProperties: false
    })
    const http = builtins.find((t) => t.name === "http_request")!
    const properties = http.parameters.properties as Record<string, Record<string, unknown>>
    // Only the configured methods are offered.
    expect(properties.method!.enum).toEqual(["GET", "POST"])
    expect(http.parameters.required).toEqual(["url"])
  })

  it("inlines referenced definitions (classes, Int) instead of $ref", () => {
    class Point extends Schema.Class<Point>("Point")({ x: Schema.Int, y: Schema.Int }) {}
    const tool = Tool.make({
      name: "plot",
      description: "Plot a point.",
      parameters: Schema.Struct({ at: Tool.param(Point, "Where") }),
      run: () => Effect.succeed(null)
    })
    expect(tool.parameters).toEqual({
      type: "object",
      required: ["at"],
      properties: {
        at: {
          type: "object",
          required: ["x", "y"],
          properties: {
            x: { type: "integer", description: "an integer" },
            y: { type: "integer", description: "an integer" }
          },
          additionalProperties: false,
          description: "Where"
        }
      },
      additionalProperties: false
    })
  })

  it("refuses non-object parameters and invalid names", () => {
    expect(() => Tool.make({ name: "x", description: "", parameters: Schema.String, run: () => Effect.void })).toThrow(
      /object schema/
    )
    expect(() =>
      Tool.make({ name: "bad name", description: "", parameters: Schema.Struct({}), run: () => Effect.void })
    )
      .toThrow(/invalid tool name/)
  })

  it("renders Markdown docs from the same definition", () => {
    const doc = Tool.toMarkdown(builtins.find((t) => t.name === "memory_save")!)
    expect(doc).toContain("### `memory_save`")
    expect(doc).toContain("| `title` | string | yes | Short unique title, at most 200 characters |")
    expect(doc).toContain("| `expires_at` | string or null | no |")
  })
})
