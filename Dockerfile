# One image for every fieldstream service; docker-compose.yml picks the command
# (python -m producers.gateway | python -m streams | python -m sinks | fieldstream migrate).
# The install is the README's production install, word for word (tests/integration/
# test_compose.py checks it): pyproject.toml is the one list of dependencies.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY fieldstream ./fieldstream
COPY producers ./producers
COPY schemas ./schemas
COPY streams ./streams
COPY sinks ./sinks
RUN pip install --no-cache-dir .
# the board and the report run the Grafana dashboards' own SQL
COPY grafana/dashboards /usr/share/fieldstream/dashboards
ENV FIELDSTREAM_DASHBOARDS_DIR=/usr/share/fieldstream/dashboards

# Run as an unprivileged user; settings come from FIELDSTREAM_* variables, state (the stream's
# voter store) under the data directory, which docker-compose.yml mounts as a named volume.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/fieldstream fieldstream \
    && mkdir -p /var/lib/fieldstream \
    && chown fieldstream:fieldstream /var/lib/fieldstream
USER fieldstream
WORKDIR /var/lib/fieldstream
ENV FIELDSTREAM_DATA_DIR=/var/lib/fieldstream
EXPOSE 8080 8081 8082
CMD ["python", "-m", "producers.gateway"]
