# Rasd worker / producer image: `docker run rasd worker`, `docker run rasd produce FILE`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RASD_DATA_DIR=/var/lib/rasd \
    RASD_WEB_PORT=6066

WORKDIR /src
COPY pyproject.toml setup.py ./
COPY streams ./streams
COPY detectors ./detectors
COPY scenarios ./scenarios
# a C compiler only while installing: setup.py compiles the per-post detectors
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install . \
 && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/rasd rasd \
 && install -d -o rasd -g rasd "$RASD_DATA_DIR"

USER rasd
WORKDIR /home/rasd
# Table state is rebuilt from Kafka changelogs, so each container gets its own
# anonymous volume rather than a shared one (replicas must not share state).
VOLUME ["/var/lib/rasd"]
EXPOSE 6066

ENTRYPOINT ["rasd"]
CMD ["worker"]
