# veil serve as a container: non-root, the int8 detector models built into the image, health check on /readyz.
#   docker build -t veil .
#   docker run -p 8080:8080 -e VEIL_API_TOKEN=... -e VEIL_ACCESS_KEY_ID=... -e VEIL_SECRET_ACCESS_KEY=... veil
# See compose.yaml for replicas on PostgreSQL and an S3-compatible store.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# The locked dependencies first: this layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra serve --no-install-project
COPY src ./src
RUN uv sync --frozen --no-dev --extra serve --no-editable

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/veil veil \
    && mkdir -p /data /opt/veil/models && chown veil:veil /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VEIL_MODEL_CACHE=/opt/veil/models \
    VEIL_DATA_DIR=/data \
    VEIL_HOST=0.0.0.0 \
    VEIL_PORT=8080 \
    VEIL_STOP_GRACE_SECONDS=8
# Build the int8 face and plate models now (tens of seconds), so no container builds them at start-up;
# the cache is read-only at run time.
RUN python -c "from veil.detect import DetectorSettings, build_detectors; build_detectors(DetectorSettings())" \
    && chmod -R a+rX,a-w /opt/veil/models
USER veil
WORKDIR /home/veil
VOLUME /data
EXPOSE 8080
# Docker's default stop timeout is 10 s: VEIL_STOP_GRACE_SECONDS (8) lets running jobs finish or hands them back in it.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
CMD ["veil", "serve"]
