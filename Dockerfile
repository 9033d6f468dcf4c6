# Multi-stage build: compile in the Rust image, run in a slim Debian image as a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY src src
COPY templates templates
COPY static static
COPY migrations migrations
COPY locales locales
RUN cargo build --release --locked --bin kasa

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/kasa kasa
COPY --from=build /src/target/release/kasa /usr/local/bin/kasa
USER kasa
WORKDIR /var/lib/kasa
ENV KASA_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["kasa"]
CMD ["serve"]
