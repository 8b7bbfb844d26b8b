# Tessera on the current Node LTS: compiled in a build stage, run with plain node.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
COPY views ./views
COPY public ./public
COPY locales ./locales
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
VOLUME ["/data"]
# Readiness (store reachable and writable, keys loaded: /readyz, see README "Operations"). Sends the issuer's
# host name: Tessera answers 400 to any other Host (ALLOWED_HOSTS), and fetch can't set Host.
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "require('node:http').get({host:'127.0.0.1',port:process.env.PORT,path:'/readyz',headers:{host:new URL(process.env.ISSUER||'http://localhost:'+process.env.PORT).host}},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
CMD ["node", "dist/main.js"]
