# FHIR R4 server image. Runs against MongoDB when FHIR_MONGODB_URI is set, else the embedded store.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY fhir_server ./fhir_server
COPY seed_data ./seed_data
RUN pip install --no-cache-dir . && useradd --system fhir
USER fhir
ENV FHIR_HOST=0.0.0.0 FHIR_PORT=8080 FHIR_SEED_DATA_DIR=/app/seed_data
EXPOSE 8080
CMD ["fhir-server", "serve", "--host", "0.0.0.0", "--port", "8080"]
