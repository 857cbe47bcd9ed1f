# Tidings: two stages. The install steps mirror the Makefile's (pip install of this project).
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/tidings
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY channels ./channels
COPY core ./core
RUN /opt/tidings/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/tidings/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 tidings
COPY --from=build /opt/tidings /opt/tidings
ENV PATH=/opt/tidings/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TIDINGS_EMAIL__HOST=0.0.0.0 \
    TIDINGS_WEB__HOST=0.0.0.0
WORKDIR /app
RUN mkdir -p /app/var && chown tidings:tidings /app/var
USER tidings
VOLUME ["/app/var"]
EXPOSE 2525 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"
ENTRYPOINT ["tidings", "run"]
