# syntax=docker/dockerfile:1
# Four stages. `deps` and `runtime-deps` read only package.json and package-lock.json, so a change
# to the source reuses their layers; `build` compiles the daemon and the dashboard (dist/admin);
# the runtime image gets the production modules and dist/ without source maps, runs as the
# unprivileged `node` user, and keeps data_dir on a volume.
# test/deploy/Docker.test.ts replays the runtime stage's steps without Docker (see README, Docker).

# Every module for the build, scripts not run (the source is not here yet for `prepare`), then
# esbuild's own install step; the build never loads better-sqlite3.
FROM node:24-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild esbuild

# What the runtime loads: the production modules alone, better-sqlite3 built for this Node, and
# none of the libraries' source maps.
FROM node:24-bookworm AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3 && find node_modules -name '*.map' -delete

# The full build (daemon bundle, workers, dashboard), then the source maps are dropped.
FROM deps AS build
COPY scripts ./scripts
COPY tsconfig.json ./
COPY src ./src
COPY admin ./admin
RUN npm run build && find dist -name '*.map' -delete

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    MINIBOT_DATA_DIR=/app/data \
    MINIBOT_HTTP_ENABLED=true \
    MINIBOT_HTTP_HOST=0.0.0.0 \
    MINIBOT_HTTP_PORT=8080 \
    MINIBOT_HTTP_API=false
WORKDIR /app
COPY package.json package-lock.json config.example.toml ./
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY bin ./bin
COPY --from=build /app/dist ./dist
# `docker exec <container> minibot pairing list`
RUN ln -s /app/bin/minibot.js /usr/local/bin/minibot && mkdir -p /app/data && chown node:node /app/data && chmod 700 /app/data
USER node
VOLUME ["/app/data"]
# Configure with a file (MINIBOT_CONFIG=/path, or /app/config.toml mounted) or the environment
# (TELEGRAM_BOT_TOKEN, OPENAI_API_KEY, OPENAI_BASE_URL, MINIBOT_MODEL, MINIBOT_ALLOWED_USER_IDS).
# [http] listens on every interface for the health check; the API (/api, /admin) is off unless
# MINIBOT_HTTP_API=true with MINIBOT_HTTP_API_TOKEN, as it may not be served unauthenticated there.
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.MINIBOT_HTTP_PORT||8080}/healthz`).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# node itself is PID 1: the daemon handles SIGTERM and SIGINT (a graceful stop, exit 0), and it
# starts no child processes to reap. `docker run --init` adds tini for those who want it anyway.
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/main.js"]
CMD ["run"]
