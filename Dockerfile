# Kiln's API and worker image (one image, two commands: `kiln api`, `kiln worker`).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# The font text watermarks are drawn with.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Named volumes take the owner of the image's directory, so the unprivileged user can write blobs.
RUN mkdir -p /data && chown node:node /data
USER node
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["api"]
