# syntax=docker/dockerfile:1
# Build: compiles better-sqlite3, bundles the daemon and builds the dashboard (dist/admin).
# Runtime: Node, production modules, the bundle, a non-root user, and the data directory on a volume.
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY tsconfig.json ./
COPY src ./src
COPY admin ./admin
RUN npm ci && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json config.example.toml ./
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
# Configure with /app/config.toml (mount it), MINIBOT_CONFIG, or the environment
# (TELEGRAM_BOT_TOKEN, OPENAI_API_KEY, OPENAI_BASE_URL, MINIBOT_MODEL, MINIBOT_ALLOWED_USER_IDS).
EXPOSE 8080
STOPSIGNAL SIGTERM
# node directly (not npm) so SIGTERM reaches the daemon.
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/main.js"]
CMD ["run"]
