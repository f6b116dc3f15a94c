# The Eddy worker image used by docker-compose.yml (production-like deployment).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY eddy ./eddy
COPY streams ./streams
COPY features ./features
COPY learners ./learners
COPY schemas ./schemas
COPY analytics ./analytics
COPY examples ./examples
RUN pip install --no-cache-dir .
ENTRYPOINT ["eddy"]
CMD ["worker", "-c", "examples/fraud/config.yaml"]
