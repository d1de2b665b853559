# Anvil in a container: the data directory is a volume; pass the key passphrase as a secret file
# (ANVIL_KEY_PASSPHRASE_FILE) in any real deployment.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY scripts ./scripts
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY acme-profiles ./acme-profiles
RUN mkdir /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8443
ENV ANVIL_DATA_DIR=/data ANVIL_LISTEN=0.0.0.0:8443
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
