# The supplyline binary, built in one stage and run from a slim image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p supplyline \
    && install -D target/release/supplyline /out/supplyline

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/supplyline supplyline
COPY --from=build /out/supplyline /usr/local/bin/supplyline
USER supplyline
WORKDIR /var/lib/supplyline
ENV SUPPLYLINE_LISTEN=0.0.0.0:8080 SUPPLYLINE_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["supplyline"]
CMD ["serve"]
