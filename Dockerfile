# filehub server image. Configure with FILEHUB_* environment variables (see
# config/filehub.example.toml); mount a volume at /data for the embedded default.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY filehub ./filehub
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data filehub \
 && mkdir -p /data && chown filehub /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER filehub
ENV FILEHUB_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
ENTRYPOINT ["filehub"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
