# syntax=docker/dockerfile:1
# One image for all five Baton services; the `baton` command selects what runs:
#   docker build -t baton .
#   docker run --rm baton serve hub        # or resource, status, monitor, recovery
#   docker run --rm baton topics create    # one-shot jobs: topics, `db migrate`
# The build stage installs the locked dependencies (uv.lock) and the project itself with
# its `server` extra (the services and the `baton` command), as a wheel, into a virtual
# environment; the runtime stage copies only that environment onto a slim Python and runs
# it as an unprivileged user (UID/GID 10001) that owns nothing in the image, so the root
# filesystem can be mounted read-only (writes go to /tmp).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/baton
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra server --no-install-project
# Then the project, built as a wheel (not editable) into the same environment.
COPY README.md ./
COPY shared ./shared
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra server --no-editable \
 && /opt/baton/bin/baton --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
ARG BATON_UID=10001
LABEL org.opencontainers.image.title="baton" \
      org.opencontainers.image.description="Baton services: hub, resource, status, monitor, recovery" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid "${BATON_UID}" baton \
 && useradd --system --uid "${BATON_UID}" --gid baton --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin baton
COPY --from=build /opt/baton /opt/baton
ENV PATH=/opt/baton/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    BATON_HOME=/tmp/baton \
    BATON_HTTP_HOST=0.0.0.0
# Numeric, so that Kubernetes can verify runAsNonRoot against the image.
USER ${BATON_UID}:${BATON_UID}
WORKDIR /tmp
# hub, resource, status, monitor, recovery (BATON_HTTP_PORT or `baton serve --port`)
EXPOSE 8081 8082 8083 8084 8085
ENTRYPOINT ["baton"]
CMD ["--help"]
