# codearts-exporter container image.
#   docker build -t codearts-exporter .
#   docker run --rm -p 9877:9877 -v $PWD/config.yaml:/etc/codearts-exporter/config.yaml:ro \
#     -e CODEARTS_TOKEN codearts-exporter                                 # reads /etc/codearts-exporter/config.yaml
#   docker run --rm -p 9877:9877 codearts-exporter --demo                 # the demo: built-in simulator
# Started without a configuration, the container says what it needs and exits 2 (no silent demo in
# production: a forgotten mount must not look like a working exporter).
#
# Stage 1 builds the wheel and installs it with its dependencies into a virtualenv; stage 2 is the
# same slim base with only that virtualenv copied in: no compiler, no pip cache, no sources, no tests.
#
# Reproducible: the base image is named by its full Python version and Debian release, and the
# dependencies are installed at the versions pinned in constraints.txt. Refresh both as the README says
# ("Container image"): bump the tag below in both FROM lines, regenerate constraints.txt, rebuild.

FROM python:3.12.8-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# exporter/config.example.yaml links to ../config.example.yaml: the wheel gets its content
COPY pyproject.toml README.md constraints.txt config.example.yaml ./
COPY exporter/ exporter/
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --constraint constraints.txt /wheels/*.whl

FROM python:3.12.8-slim-bookworm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# nobody:nogroup, by number so Kubernetes' runAsNonRoot can check it without reading /etc/passwd
USER 65534:65534
EXPOSE 9877
# slim has no curl; Python is there. Assumes plain HTTP: with a --web.config.file, probe from outside.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9877/healthz', timeout=4)"]
ENTRYPOINT ["codearts-exporter"]
CMD ["--config.file", "/etc/codearts-exporter/config.yaml"]
